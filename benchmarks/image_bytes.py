"""Bytes per image of an `Examples` artifact: the float32 layout against the compact one.

What is measured
----------------
The synthetic 28x28 grayscale images of `benchmarks/trainer_scale.py` (a
class-given blob plus seeded noise), rounded to 8-bit pixels k and read as
k / 255, as Ingest reads image files. frontier's own writer
(`examples_io.write_examples`) writes them twice, with their `label`: in
the float32 layout (784 float32 values an image, what every image data set
was stored as before) and in the compact layout (`image/uint8` bytes and
`image/divisor`, see `frontier.schemas.dataset`). Both decode to the same
float32 arrays (checked here through `load_split`).

Reported, per image: the bytes of the split's GZIP TFRecord file on disk,
and the bytes of the serialized `tf.Example`s before compression;
`image_bytes_ratio` is float32 over compact on disk (the artifact's real
size), `image_bytes_ratio_uncompressed` the same before GZIP. For the choice
of raw bytes over PNG, the same images are also written as PNG-encoded
Examples (by hand: frontier does not write them) and both are read back
through `tf.data` (parse and decode, batches of 256): bytes and images per
second of each.

Why the two ratios differ: a float32 k / 255 is one of only 256 four-byte
patterns, which GZIP's dictionary coding finds, so on disk the float32
layout costs about 1.1 bytes a pixel rather than 4; the compact layout
costs what the pixels' own entropy costs (the noise here, as in real
photographs, is incompressible). Raw bytes keep a factor of 3.7 before
compression and about 1.6 after it (seed 0, 4,000 images: 866 against 547
bytes an image on disk; PNG 627 bytes, decoded 3.5x slower than raw bytes).

Run:
    .venv/bin/python benchmarks/image_bytes.py              # 4,000 images (about 30 s)
    .venv/bin/python benchmarks/image_bytes.py --n 1000     # a smoke run

Output: one JSON object (the last line).
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import os
import tempfile
import time

import numpy as np

KEY = "image"
SIDE = 28
CLASSES = 10
DECODE_BATCH = 256


def _pixels(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n 8-bit images uint8 [n, 784] and labels [n]: trainer_scale's images, rounded."""
    from trainer_scale import _images  # lazily: trainer_scale may import this module

    x, y = _images(n, seed)
    return np.rint(x).astype(np.uint8), y.astype(np.int64)


def _disk_bytes(uri: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(uri) for f in fs)


def _png_split(uri: str, pixels: np.ndarray, labels: np.ndarray) -> tuple[str, int]:
    """The images as PNG-encoded Examples (`image/png`, `label`) in one GZIP
    TFRecord file; returns (its path, serialized bytes)."""
    import tensorflow as tf
    from PIL import Image

    path = os.path.join(uri, "png.gz")
    serialized = 0
    with tf.io.TFRecordWriter(path, options="GZIP") as writer:
        for image, label in zip(pixels, labels, strict=True):
            buffer = io.BytesIO()
            Image.fromarray(image.reshape(SIDE, SIDE)).save(buffer, "PNG")
            feature = {
                f"{KEY}/png": tf.train.Feature(
                    bytes_list=tf.train.BytesList(value=[buffer.getvalue()])
                ),
                "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)])),
            }
            record = tf.train.Example(features=tf.train.Features(feature=feature))
            data = record.SerializeToString(deterministic=True)
            serialized += len(data)
            writer.write(data)
    return path, serialized


def _images_per_s(files: list[str], decode) -> float:
    """Images per second of one pass over `files` (GZIP TFRecords) in batches of
    `DECODE_BATCH`, `decode` mapping serialized [B] to float32 [B, D]."""
    import tensorflow as tf

    ds = tf.data.TFRecordDataset(files, compression_type="GZIP").batch(DECODE_BATCH)
    ds = ds.map(decode).prefetch(2)
    start, count = time.perf_counter(), 0
    for x in ds:
        count += int(x.shape[0])
    return count / (time.perf_counter() - start)


def image_bytes(n: int = 4000, seed: int = 0) -> dict:
    """Writes n images in both layouts and measures them.

    Args:
      n: images (28x28x1) to write.
      seed: seed of the images.

    Returns:
      {"images", "float32_bytes_per_image", "uint8_bytes_per_image",
      "png_bytes_per_image" (each on disk, GZIP), the same three
      "..._serialized_bytes_per_image" before compression,
      "image_bytes_ratio" (float32 / uint8 on disk),
      "image_bytes_ratio_uncompressed", "uint8_images_per_s",
      "png_images_per_s" (read, parse and decode)}.
    """
    import tensorflow as tf
    from tfx.types import standard_artifacts

    from frontier.components.common.examples_io import (
        load_split,
        parse_examples,
        serialize_example,
        split_files,
        write_examples,
    )
    from frontier.schemas.dataset import MAX_UINT8, UINT8_ENCODING, DatasetInfo

    pixels, labels = _pixels(n, seed)
    x = pixels.astype(np.float32) / np.float32(MAX_UINT8)  # as Ingest reads image files
    floats = DatasetInfo(
        feature_keys=(KEY,),
        feature_dims=(SIDE * SIDE,),
        class_names=tuple(str(c) for c in range(CLASSES)),
        image_shape=(SIDE, SIDE, 1),
        role_keys=("label",),
    )
    compact = dataclasses.replace(floats, image_encoding=UINT8_ENCODING, pixel_divisor=MAX_UINT8)
    disk, serialized, decoded, speed = {}, {}, {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, info in (("float32", floats), ("uint8", compact)):
            artifact = standard_artifacts.Examples()
            artifact.uri = os.path.join(tmp, name)
            write_examples(artifact, {"train": {"x": x, "label": labels}}, info)
            disk[name] = _disk_bytes(os.path.join(artifact.uri, "Split-train"))
            serialized[name] = sum(
                len(serialize_example({KEY: row, "label": label}, info))
                for row, label in zip(x, labels, strict=True)
            )
            decoded[name] = load_split(artifact.uri, "train")["x"]
            if name == "uint8":
                speed[name] = _images_per_s(
                    split_files(artifact.uri, "train"),
                    lambda s, info=info: parse_examples(s, info)["x"],
                )
        if not np.array_equal(decoded["float32"], decoded["uint8"]):
            raise AssertionError("the two layouts decode to different values")
        png_path, serialized["png"] = _png_split(tmp, pixels, labels)
        disk["png"] = os.path.getsize(png_path)
        spec = {f"{KEY}/png": tf.io.FixedLenFeature([], tf.string)}

        def decode_png(s):
            images = tf.io.parse_example(s, spec)[f"{KEY}/png"]
            one = tf.map_fn(
                lambda b: tf.reshape(tf.io.decode_png(b, channels=1), [-1]),
                images,
                fn_output_signature=tf.uint8,
            )
            return tf.cast(one, tf.float32) / float(MAX_UINT8)

        speed["png"] = _images_per_s([png_path], decode_png)
    result: dict = {"images": n, "image": f"{SIDE}x{SIDE}x1, 8-bit pixels / 255"}
    for name in ("float32", "uint8", "png"):
        result[f"{name}_bytes_per_image"] = round(disk[name] / n, 1)
        result[f"{name}_serialized_bytes_per_image"] = round(serialized[name] / n, 1)
    result["image_bytes_ratio"] = round(disk["float32"] / disk["uint8"], 3)
    result["image_bytes_ratio_uncompressed"] = round(serialized["float32"] / serialized["uint8"], 3)
    for name in ("uint8", "png"):
        result[f"{name}_images_per_s"] = round(speed[name])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4000, help="images to write")
    parser.add_argument("--seed", type=int, default=0, help="seed of the images")
    args = parser.parse_args()
    print(json.dumps({"benchmark": "image_bytes", **image_bytes(args.n, args.seed)}))


if __name__ == "__main__":
    main()
