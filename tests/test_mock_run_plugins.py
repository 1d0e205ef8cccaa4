"""``robarena mock-run`` on the built-in plugins: every component once, at smoke budgets."""
from bench.cli.main import main
from bench.cli.mock_run import mock_suites
from bench.registry import get_registry


def test_classics_mock_suites_cover_every_component_at_smoke_budgets():
    registry = get_registry()
    main_suite, defenses_suite = mock_suites(registry, "classics")
    own = {k: {e.qualified_id for e in registry.entries(k) if e.plugin.name == "classics"}
           for k in ("model", "defense", "attack", "probe")}
    assert {m["id"] for m in main_suite["models"]} == own["model"]
    assert {a["id"] for a in main_suite["attacks"]} == own["attack"]
    assert {p["id"] for p in main_suite["probes"]} == own["probe"]
    assert main_suite["defenses"] == [{"id": "classics/standard"}]
    assert {d["id"] for d in defenses_suite["defenses"]} == own["defense"] - {"classics/standard"}
    assert defenses_suite["models"] == main_suite["models"][:1]
    params = {a["id"]: a["params"] for a in main_suite["attacks"]}
    for attack_id, smoke in params.items():  # each attack's smoke_config(), not its paper budget
        impl = registry.get("attack", attack_id).load()
        assert smoke == impl.smoke_config().model_dump(mode="json"), attack_id
    assert params["classics/cw-l2"]["max_iterations"] < 1000 and params["classics/autoattack"] != {}


def test_probes_that_read_attacks_get_a_fallback_attack(tmp_path, capsys):
    """disentangle has probes that need the suite's attacks but no attack of its own."""
    (suite,) = mock_suites(get_registry(), "disentangle")
    assert [a["id"] for a in suite["attacks"]] == ["classics/pgd"]
    assert main(["mock-run", "disentangle", "--workdir", str(tmp_path)]) == 0
    assert "0 failed" in capsys.readouterr().out
