"""Custom artifact types of frontier.

Standard TFX types (`Examples`, `Model`, `ModelRun`, `ModelEvaluation`,
`ModelBlessing`, `PushedModel`) are used wherever they fit (DESIGN.md rule 3);
this module holds only what TFX has no type for.
"""

from tfx.types import artifact


class HtmlReport(artifact.Artifact):
    """A small self-contained HTML page that a component leaves to look at.

    Layout: `<uri>/index.html` (plots are inline PNG, so the page is one file
    that the Kubeflow / Vertex UI and the local run report can show as is).

    Custom properties:
      title: the page's title, shown as the link text in the run report.
    """

    TYPE_NAME = "frontier.HtmlReport"


HTML_FILE_NAME = "index.html"
