"""bench.load_model, bench.results and bench.load_rows: a stored run read back without re-running."""
from __future__ import annotations

import shutil
import subprocess
import sys

import pandas as pd
import pytest
import torch

import bench
from bench.errors import CorruptArtifactError, LeaderboardError, UsageError
from bench.store.cache import ArtifactCache
from bench.store.results import ResultsStore
from drill_helpers import PLUGINS, arrays as _arrays, drill, eval_data as _eval_data  # noqa: F401  (fixture)

ERM, SHIFTED = "digits/tiny-linear/erm/seed0", "digits/tiny-linear/shifted/seed0"


def _store_state(workdir):
    store = ResultsStore(workdir / "results.sqlite", readonly=True)
    try:
        return store.count_cells(), len(store.list_runs())
    finally:
        store.close()


def test_import_bench_exposes_the_api_without_importing_torch():
    code = ("import sys, bench; fns = [bench.load_model, bench.results, bench.load_rows, bench.examples, "
            "bench.export_examples]; bad = [m for m in ('torch', 'pandas', 'pydantic') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_results_is_the_runs_frame_and_runs_nothing(drill):
    before = _store_state(drill.workdir)
    frame = bench.results("drill", workdir=drill.workdir)
    pd.testing.assert_frame_equal(frame, drill.result.to_pandas())
    assert frame.attrs["columns"] == drill.result.to_pandas().attrs["columns"]
    assert _store_state(drill.workdir) == before  # no cell computed, no run recorded
    rows = bench.load_rows(workdir=drill.workdir)  # the only suite in the workdir
    assert [r.model_dump() for r in rows] == [r.model_dump() for r in drill.result.rows]


def test_load_model_rebuilds_the_defense_wrapper_with_the_stored_weights(drill):
    model = bench.load_model("shifted", suite="drill", workdir=drill.workdir, plugins=PLUGINS)
    assert type(model).__name__ == "Shifted" and type(model.inner).__name__ == "TinyLinear"
    assert not any(m.training for m in model.modules())
    row = next(r for r in drill.result.rows if r.row_id == SHIFTED)
    stored = ArtifactCache(drill.workdir / "cache").get_tensors(row.artifacts["checkpoint"])
    assert set(stored) == set(model.state_dict()) and "shift" in stored
    assert all(torch.equal(stored[k], v) for k, v in model.state_dict().items())
    # the runner's own predictions, made with the trained module, are reproduced by the loaded one
    x, y = _eval_data()
    with torch.no_grad():
        clean_ok = model(x).argmax(1) == y
        adv = _arrays(drill.workdir, SHIFTED, "attack", "sign3")
        adv_pred = model(adv["x_adv"]).argmax(1)
    assert torch.equal(clean_ok, _arrays(drill.workdir, SHIFTED, "clean")["clean_correct"].bool())
    assert torch.equal(adv_pred, adv["adv_pred"])
    with torch.no_grad():  # the shift matters: the bare architecture predicts otherwise
        assert not torch.equal(model.inner(x).argmax(1), model(x).argmax(1))


def test_load_model_takes_a_row_object_or_an_exact_id(drill):
    row = next(r for r in drill.result.rows if r.row_id == ERM)
    by_row = bench.load_model(row, workdir=drill.workdir, plugins=PLUGINS)  # suite from the row's provenance
    by_id = bench.load_model(ERM, workdir=drill.workdir, plugins=PLUGINS)
    assert type(by_row).__name__ == "TinyLinear"
    assert all(torch.equal(a, b) for a, b in zip(by_row.state_dict().values(), by_id.state_dict().values()))


def test_load_model_errors(drill):
    kw = {"workdir": drill.workdir, "plugins": PLUGINS}
    with pytest.raises(UsageError, match="3 rows match 'tiny'.*erm/seed0"):
        bench.load_model("tiny", **kw)
    with pytest.raises(LeaderboardError, match="its training failed"):
        bench.load_model("broken", **kw)
    with pytest.raises(LeaderboardError, match="no finished run of suite 'other'"):
        bench.load_model("erm", suite="other", **kw)
    with pytest.raises(UsageError, match="is a work directory, not a suite"):
        bench.results(str(drill.workdir))
    with pytest.raises(UsageError, match="row must be a row id"):
        bench.load_model(3, **kw)


def test_load_model_refuses_a_modified_checkpoint(drill, tmp_path):
    work = shutil.copytree(drill.workdir, tmp_path / "w")
    row = next(r for r in drill.result.rows if r.row_id == ERM)
    path = ArtifactCache(work / "cache").path(row.artifacts["checkpoint"])
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptArtifactError, match="does not match its sha256.*run the suite again"):
        bench.load_model(ERM, workdir=work, plugins=PLUGINS)


def test_load_model_finds_a_snapshot_rows_checkpoint_outside_the_latest_run(drill, tmp_path):
    """A Row from an earlier run: the model loaded is the one holding that Row's checkpoint."""
    work = shutil.copytree(drill.workdir, tmp_path / "w")
    old = next(r for r in drill.result.rows if r.row_id == ERM)
    bench.run({**_suite_with_epochs(3)}, workdir=work, plugins=PLUGINS, device="cpu")
    new = next(r for r in bench.load_rows("drill", workdir=work) if r.row_id == ERM)
    assert new.artifacts["checkpoint"] != old.artifacts["checkpoint"]
    model = bench.load_model(old, workdir=work, plugins=PLUGINS)
    stored = ArtifactCache(work / "cache").get_tensors(old.artifacts["checkpoint"])
    assert all(torch.equal(stored[k], v) for k, v in model.state_dict().items())


def _suite_with_epochs(epochs):
    from drill_helpers import SUITE

    return {**SUITE, "defenses": [{"id": "erm"}], "attacks": SUITE["attacks"][:1],
            "train": {**SUITE["train"], "epochs": epochs}}


def test_load_model_of_a_brought_checkpoint(tmp_path, testkit):
    """A ``[[pretrained]]`` row (bench.evaluate): the module is the brought architecture with its weights."""
    from safetensors.torch import save_file

    from bench.testing.tiny import TinyLinear

    mine = TinyLinear((1, 8, 8), 10, seed=3)
    save_file(mine.state_dict(), str(tmp_path / "mine.safetensors"))
    bench.evaluate(arch="tiny-linear", checkpoint=str(tmp_path / "mine.safetensors"), dataset="core/digits",
                   dataset_params={"n_train": 20, "n_test": 8}, attacks=[], label="mine", n=8,
                   workdir=tmp_path / "w", plugins=testkit, device="cpu")
    model = bench.load_model("mine", workdir=tmp_path / "w", plugins=testkit)
    assert type(model) is TinyLinear and not model.training
    assert all(torch.equal(mine.state_dict()[k], v) for k, v in model.state_dict().items())


def test_records_without_key_parts_load_from_their_labels(drill, tmp_path):
    """Training records stored before key parts were kept: ids and parameters from the labels."""
    work = shutil.copytree(drill.workdir, tmp_path / "w")
    store = ResultsStore(work / "results.sqlite")
    try:
        for _key, cell_id, rec, _problem in list(store.iter_cells()):
            if rec["stage"] == "train" and "key_parts" in rec["meta"]:
                store.update_labels(rec["key"], cell_id, {k: v for k, v in rec["meta"].items() if k != "key_parts"})
    finally:
        store.close()
    model = bench.load_model(SHIFTED, workdir=work, plugins=PLUGINS)
    row = next(r for r in drill.result.rows if r.row_id == SHIFTED)
    stored = ArtifactCache(work / "cache").get_tensors(row.artifacts["checkpoint"])
    assert type(model).__name__ == "Shifted"
    assert all(torch.equal(stored[k], v) for k, v in model.state_dict().items())


def test_a_model_trained_by_other_code_loads_with_a_warning(drill, tmp_path):
    work = shutil.copytree(drill.workdir, tmp_path / "w")
    store = ResultsStore(work / "results.sqlite")
    try:
        for _key, cell_id, rec, _problem in list(store.iter_cells()):
            if rec["stage"] == "train" and rec["meta"]["row_id"] == ERM:
                parts = {**rec["meta"]["key_parts"], "defense": {**rec["meta"]["key_parts"]["defense"], "code": "0ld"}}
                store.update_labels(rec["key"], cell_id, {**rec["meta"], "key_parts": parts})
    finally:
        store.close()
    with pytest.warns(RuntimeWarning, match=f"row '{ERM}': the installed code of its defense differs"):
        bench.load_model(ERM, workdir=work, plugins=PLUGINS)
