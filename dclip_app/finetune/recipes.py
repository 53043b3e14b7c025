"""The Recipe page in data: quick, paper or custom, each knob explained in one line (Qt-free).

The values shown for ``quick`` and ``paper`` are those of ``dclip_core.train.recipes`` (which the
app cannot import: it sits in the training package); a test keeps the two equal. A custom recipe
is the quick one with a few values changed through ``--set``, ``--teacher-steps``,
``--student-steps``, ``--held-out`` and ``--regions``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Knob:
    """One recipe value: its ``--set`` key, its name on the page and what it does."""

    key: str
    label: str
    explanation: str


KNOBS = (
    Knob("teacher.epochs", "Teacher epochs", "passes over your photos to train the teacher"),
    Knob("teacher.lr", "Teacher learning rate", "how big the teacher's steps are"),
    Knob("teacher.batch_size", "Teacher batch", "photos per step: more is steadier, needs memory"),
    Knob("student.epochs", "Student epochs", "passes to distil the teacher into your model"),
    Knob(
        "student.lr",
        "Student learning rate",
        "small on purpose: larger forgets more of what the model knew",
    ),
    Knob("student.batch_size", "Student batch", "photos per step of the student"),
    Knob("data.detector", "Region detector", "finds the objects the teacher learns to point at"),
    Knob(
        "checkpoint_every", "Checkpoint every", "steps between saves: Stop and crashes resume here"
    ),
)

RECIPE_VALUES: dict[str, dict[str, object]] = {
    "quick": {
        "teacher.epochs": 2,
        "teacher.lr": 1e-4,
        "teacher.batch_size": 16,
        "student.epochs": 1,
        "student.lr": 1e-5,
        "student.batch_size": 16,
        "data.detector": "yolov8n",
        "checkpoint_every": 50,
    },
    "paper": {
        "teacher.epochs": 5,
        "teacher.lr": 1e-5,
        "teacher.batch_size": 32,
        "student.epochs": 2,
        "student.lr": 1e-6,
        "student.batch_size": 32,
        "data.detector": "yolov8x",
        "checkpoint_every": 500,
    },
}

RECIPE_SUMMARIES = {
    "quick": "a short run a laptop finishes: fewer epochs, a small detector",
    "paper": "the values of the DCLIP paper: longer, a large detector; best on a GPU",
    "custom": "the quick recipe with the values below changed",
}

# What the student may change (``student.trainable``; the text tower only with "all").
TRAINABLE_CHOICES = {
    "": "the image tower's attention (the recipe's): keeps the most of what it knew",
    "vision": "the whole image tower",
    "all": "both towers: needed to learn word order (with hard negatives)",
}

REGION_CHOICES = {
    "": "the recipe's (a detector finds objects)",
    "gt": "the data's own boxes (library boxes, shapes scenes)",
    "yolo+gt": "both: the detector's and the data's boxes",
    "yolo": "the detector's boxes only",
}


def format_value(value: object) -> str:
    """``1e-05`` → ``1e-5``; other values as they are."""
    if isinstance(value, float):
        return f"{value:.0e}".replace("e-0", "e-")
    return str(value)


@dataclass(frozen=True)
class RecipeChoice:
    """What the Recipe page holds; :meth:`args` is its part of the ``dclip finetune`` line.

    Attributes:
        name: ``quick``, ``paper`` or ``custom``.
        teacher_steps, student_steps: stop a stage after this many steps (None: the recipe's).
        teacher_lr, student_lr, batch_size: custom values (None: the recipe's).
        held_out: the share of photos held out to measure the result on.
        regions: ``gt``, ``yolo`` or ``yolo+gt`` (empty: the recipe's).
        trainable: ``vision`` or ``all`` (empty: the recipe's attention projections).
        hard_negatives: add the hard-negative term (``student.w_neg=1``, docs/adr/0025).
    """

    name: str = "quick"
    teacher_steps: int | None = None
    student_steps: int | None = None
    teacher_lr: float | None = None
    student_lr: float | None = None
    batch_size: int | None = None
    held_out: float = 0.2
    regions: str = ""
    trainable: str = ""
    hard_negatives: bool = False

    def args(self) -> list[str]:
        recipe = "paper" if self.name == "paper" else "quick"
        out = ["--recipe", recipe]
        if self.name != "custom":
            return out
        sets = {
            "teacher.lr": self.teacher_lr,
            "student.lr": self.student_lr,
            "teacher.batch_size": self.batch_size,
            "student.batch_size": self.batch_size,
            "student.trainable": self.trainable or None,
            "student.w_neg": 1 if self.hard_negatives else None,
        }
        for key, value in sets.items():
            if value is not None:
                out += ["--set", f"{key}={value}"]
        if self.teacher_steps is not None:
            out += ["--teacher-steps", str(self.teacher_steps)]
        if self.student_steps is not None:
            out += ["--student-steps", str(self.student_steps)]
        if abs(self.held_out - 0.2) > 1e-9:
            out += ["--held-out", f"{self.held_out:g}"]
        if self.regions:
            out += ["--regions", self.regions]
        return out
