"""Measures several chapters share (mqlb.measures), on tiny runs worked out by hand;
and the layering rule: the model never imports the presentation layer."""

import ast
from pathlib import Path

import numpy as np
import pytest

import mqlb
from mqlb import Client, LoadBalancer, Server, measures, scenarios, simulate

MODEL = Path(mqlb.__file__).resolve().parent
PRESENTATION_MODULES = ("mqlb.present", "IPython", "ipywidgets", "matplotlib", "myst_nb")


def jobs(times, sizes):
    classes = [mqlb.JobClass("job", mqlb.Deterministic(1.0), 0.0)]
    wl = mqlb.make_workload(times, classes=classes, seed=0)
    return mqlb.Workload(wl.arrival, np.asarray(sizes, float), wl.memory_mb.copy(), wl.kind.copy(), wl.kinds)


def test_failed_jobs_counts_every_job_without_an_answer():
    """One server with room for one waiting job: of four simultaneous 1 s jobs one
    runs, one waits, two are rejected; a client that gives up after 1.5 s loses
    the waiting one (it would finish at 2 s)."""
    system = LoadBalancer([Server(backlog=1)])
    patient = simulate(system, jobs([0, 0, 0, 0], [1, 1, 1, 1])).summary()
    impatient = simulate(system, jobs([0, 0, 0, 0], [1, 1, 1, 1]), client=Client(timeout=1.5)).summary()
    assert (patient.completed, patient.rejected, measures.failed_jobs(patient)) == (2, 2, 2)
    assert (impatient.completed, impatient.timed_out, measures.failed_jobs(impatient)) == (1, 1, 3)


def test_failed_jobs_wants_a_summary():
    with pytest.raises(TypeError, match="Summary"):
        measures.failed_jobs(3)


def test_surge_scorecard_agrees_with_the_summaries():
    wl = scenarios.surge_workload(seed=1, duration=120.0, surge_start=30.0, surge_end=60.0)
    res = simulate(scenarios.architectures(n_servers=4)["LB push"], wl)
    card = measures.surge_scorecard(res, 30.0, 60.0)
    s = res.summary()
    assert card["failed"] == card["failed_light"] + card["failed_heavy"] == measures.failed_jobs(s)
    assert card["failed"] == card["lost"] + card["rejected"] + card["other"]
    assert card["crashes"] == int(res.servers.crashes.sum()) and card["goodput"] == s.goodput
    assert card["recovery"] == scenarios.recovery_time(res, 30.0, 60.0)


def test_stranded_share_is_zero_for_a_shared_queue_and_not_for_dealt_out_work():
    """Two consumers, four jobs at once: 3 s, 1 s, 1 s, 1 s. With prefetch 1 nobody
    idles while work waits; with unlimited prefetch one consumer holds two jobs
    while the other runs out."""
    wl = jobs([0, 0, 0, 0], [3, 1, 1, 1])
    shared = simulate(mqlb.MessageQueue([Server(), Server()], prefetch=1), wl, sample_every=0.5)
    dealt = simulate(mqlb.MessageQueue([Server(), Server()], prefetch=None), wl, sample_every=0.5)
    assert measures.stranded_share(shared) == 0.0
    assert measures.stranded_share(dealt) > 0.0


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            found.add(("mqlb." + module) if node.level else module)
    return found


def presentation_imports(folder: Path) -> list[str]:
    """Model modules (mqlb/*.py outside mqlb/present/) that import a presentation module."""
    bad = []
    for path in sorted(folder.glob("*.py")):
        for module in sorted(imported_modules(path)):
            if module.startswith(PRESENTATION_MODULES):
                bad.append(f"{path.name} imports {module}")
    return bad


def test_the_model_never_imports_the_presentation_layer():
    assert presentation_imports(MODEL) == []


def test_the_layering_check_finds_a_model_module_that_imports_the_presentation(tmp_path):
    (tmp_path / "good.py").write_text("import numpy as np\nfrom .result import Result\n")
    (tmp_path / "bad.py").write_text("from .present import explorer\nimport matplotlib.pyplot as plt\n")
    assert presentation_imports(tmp_path) == ["bad.py imports matplotlib.pyplot", "bad.py imports mqlb.present"]
