"""nbgrader configuration of the course (instructor side: generate, autograde, feedback, export)."""

c = get_config()  # noqa: F821 - provided by nbgrader

c.CourseDirectory.course_id = "dl-from-scratch"
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"

# Student-facing stubs are in French.
c.ClearSolutions.code_stub = {"python": "# VOTRE CODE ICI\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "VOTRE RÉPONSE ICI"

# Execution while grading. One cell may take at most `timeout` seconds (the training
# of TP 9 takes a few seconds; 120 s leaves room on a loaded grading machine): an
# infinite loop is interrupted and costs that cell only.
c.Execute.timeout = 120
c.Execute.interrupt_on_timeout = True

# Every kernel nbgrader starts (autograde, validate) runs student code in a sandbox:
# the kernel spec `autograder-sandbox` (installed by `autograder install-kernels`)
# starts kernels through `autograder/provisioner.py`, in the sandbox of `autograder/bubblewrap.py`;
# see "Threat model" in the README.
# Where bubblewrap cannot run, kernels refuse to start; `--SandboxProvisioner.unsafe=True`
# runs them without isolation.
c.Execute.kernel_name = "autograder-sandbox"

# Before the first copy is touched, a kernel started as above must import what the hidden checks
# need; otherwise autograde stops with the cause and the fix, having recorded nothing (a kernel that
# cannot run them would give every student 0). `autograder grade` checks its own kernels the same way.
from autograder.nbgrader_ext import check_grading_kernel  # noqa: E402

c.Autograde.pre_convert_hook = check_grading_kernel

# A test cell's points come from the verdict the checks print and return; nbgrader
# would give 0 to a cell with *any* stderr output (a torch warning, a tqdm bar,
# a student's print to stderr), so stderr is dropped before grades are computed.
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"[\s\S]"

# nbgrader 0.9's Gradebook.add_submission builds a submission's rows before it adds them to the
# session, and SQLAlchemy 2 warns that autoflush skipped them ("Object of type <SubmittedAssignment>
# not in session"); nbgrader adds them right after. Known harmless, not the instructor's to act on:
# silenced precisely, here, for every nbgrader command and `autograder grade`'s workers.
import warnings  # noqa: E402

from sqlalchemy.exc import SAWarning  # noqa: E402

warnings.filterwarnings("ignore", message=r"Object of type <Submitted(Assignment|Notebook)> not in session",
                        category=SAWarning)

from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import (  # noqa: E402
    AssignLatePenalties, CheckCellMetadata, ClearHiddenTests, IgnorePattern, LimitOutput)

from autograder.nbgrader_ext import JudgeProbes, PlantProbes, ResilientExecute, SaveAutoGradesAtOnce  # noqa: E402

# nbgrader's default list, with the hidden checks judged outside the student's kernel:
# PlantProbes draws their inputs just before execution, JudgeProbes makes the verdicts
# from what the kernel reported (see `autograder/nbgrader_ext.py`); an Execute that
# bounds output and survives a dying kernel; and a copy's grades written in one transaction.
c.Autograde.autograde_preprocessors = [
    PlantProbes, ResilientExecute, JudgeProbes, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
    SaveAutoGradesAtOnce, AssignLatePenalties, CheckCellMetadata,
]
# ResilientExecute is a subclass of Execute: it takes the Execute.* settings above
# (and `--Execute.timeout=N` on the command line).

# Feedback: the students' page, in French (`autograder/feedback.py`). It shows the verdicts of
# the checks (not the hidden test code), a named section per function and per written answer,
# the student's own figures, and which written answers still wait for an instructor (the total
# then says which points are provisional). FeedbackGrades is nbgrader's GetGrades plus what the
# page needs; the page is `autograder/templates/feedback/index.html.j2`, which takes the place
# of nbgrader's template of the same name (nbgrader's own folder stays second, for formgrader).
from autograder.feedback import NBGRADER_TEMPLATES, TEMPLATES, FeedbackExporter, FeedbackGrades  # noqa: E402

c.GenerateFeedback.exporter_class = FeedbackExporter
c.GenerateFeedback.preprocessors = [FeedbackGrades, ClearHiddenTests, CSSHTMLHeaderPreprocessor]
c.ClearHiddenTests.enforce_metadata = False
c.HTMLExporter.extra_template_basedirs = [str(TEMPLATES), str(NBGRADER_TEMPLATES)]
