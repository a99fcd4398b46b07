"""The wider advisor (mqlb.decision.advise): its ranking at settings where the right answer is
known, each beside a counter-setting or a broken rule that must change the answer."""

import functools
import math

import pytest

from mqlb import Hybrid, LoadBalancer, decision, scenarios
from mqlb.decision import Setting

LIGHT_CALM = Setting(light_share=0.99, surge_factor=1.0)                    # almost all light, no surge
BIG_HEAVY = Setting(heavy_memory_mb=900.0, latency_target_s=10.0)          # two heavy jobs fill a machine
IMPATIENT = Setting(client_timeout_s=10.0, retries=1, latency_target_s=1.0)  # clients give up after 10 s


@functools.lru_cache(maxsize=None)
def judged(setting):
    return decision.judge(setting)


def top(setting, **kwargs):
    return decision.rank(judged(setting), **kwargs)[0]


def test_all_light_and_no_surge_gets_a_plain_balancer_with_least_connections():
    advice = decision.advise(LIGHT_CALM)
    assert advice.choice == "LB push"
    system = decision.candidates(LIGHT_CALM, ("LB push",))["LB push"]
    assert isinstance(system, LoadBalancer) and system.policy == "least_connections" and system.max_conns is None


def test_the_plain_balancer_loses_its_place_in_a_surge_of_heavy_jobs():
    # counter-setting: the default surge of heavy jobs crashes it
    assert decision.advise(Setting()).choice not in (None, "LB push")


def test_a_broken_rule_that_prefers_moving_parts_loses_the_light_answer():
    reversed_parts = {name: -rank for name, rank in scenarios.MOVING_PARTS.items()}
    assert top(LIGHT_CALM, moving_parts=reversed_parts).name != "LB push"


def test_heavy_jobs_that_fill_memory_get_a_capped_balancer_or_a_queue_with_prefetch_1():
    advice = decision.advise(BIG_HEAVY)
    assert advice.choice == "LB + queue" and BIG_HEAVY.conns == 2            # the cap is what fits: 2 x 900 MB
    # counter-setting: a cap above what fits in memory crashes the balancer; the queue with prefetch 1 takes over
    over = Setting(heavy_memory_mb=900.0, latency_target_s=10.0, conns_per_server=4)
    assert decision.advise(over).choice == "MQ"
    assert judged(over)["LB + queue"].crashes > 0 and judged(over)["MQ"].crashes == 0


def test_a_rule_that_forgets_losses_recommends_the_balancer_that_crashes():
    def blind(j):        # the same run, its failures and crashes not counted
        return decision.Judged(**{**j.__dict__, "failed": 0, "crashes": 0})
    rows = {name: blind(j) for name, j in judged(BIG_HEAVY).items()}
    assert decision.rank(rows)[0].name == "LB push"
    assert judged(BIG_HEAVY)["LB push"].crashes > 0


def test_impatient_clients_get_an_architecture_that_drops_stale_work():
    best = top(IMPATIENT)
    system = decision.candidates(IMPATIENT, (best.name,))[best.name]
    queues = [system.back] if isinstance(system, Hybrid) else [system]
    ttls = [q.message_ttl for mq in queues if hasattr(mq, "queues") for q in mq.queues]
    assert ttls and all(t == IMPATIENT.client_timeout_s for t in ttls)       # stale messages are dropped
    assert best.meets_target and best.failed < judged(IMPATIENT)["LB push"].failed
    # counter-setting: the same clients, patient: the simplest architecture that qualifies, the path split
    patient = Setting(latency_target_s=1.0)
    assert decision.advise(patient).choice == "Path split"
    assert top(patient).name != best.name


def test_the_ranking_states_its_criteria_in_order():
    text = decision.advise(Setting()).text()
    positions = [text.index(c) for c in decision.CRITERIA]
    assert positions == sorted(positions)
    assert text.splitlines()[0].startswith("Recommended: ")


def test_machine_seconds_count_as_equal_within_the_tolerance_only():
    rows = judged(Setting())
    cheapest = min(j.machine_seconds for j in rows.values())
    assert rows["MQ autoscaled"].machine_seconds > (1 + decision.COST_TOLERANCE) * cheapest   # it added machines
    fixed = [j.machine_seconds for name, j in rows.items() if name != "MQ autoscaled"]
    assert max(fixed) == pytest.approx(min(fixed))        # fixed fleets: the same machines over the same time
    # a cheaper architecture that qualifies ranks first whatever its moving parts
    cheap = {n: decision.Judged(**{**j.__dict__, "machine_seconds": j.machine_seconds * (0.5 if n == "Hybrid" else 1)})
             for n, j in rows.items()}
    assert decision.rank(cheap)[0].name == "Hybrid"


def test_the_flowcharts_four_architectures_still_agree_with_the_advisor_on_them():
    def advisor(setting):
        return decision.advise(setting, scenarios.ARCHITECTURES).choice
    assert decision.disagreements(advisor) == []


def test_settings_the_advisor_cannot_serve_are_refused():
    with pytest.raises(ValueError, match="add machines"):
        decision.advise(Setting(rate=30.0))
    assert math.isinf(Setting().client_timeout_s) and Setting().client.retries == 0


def test_a_menu_held_at_its_default_in_the_static_edition_is_named_in_its_note(tmp_path):
    from mqlb.present.explorer import StaticExplorer, static_positions
    held = static_positions("prefetch", [("1", 1), ("unlimited", None)], 1, [1])
    assert held.values == (1,) and held.live == 2
    assert static_positions("prefetch", [1, 2], 1).live == 2

    def draw(prefetch=1, rate=1.0):
        import matplotlib.figure
        return matplotlib.figure.Figure(figsize=(1, 1))
    static = StaticExplorer(draw, {"prefetch": [1, 2], "rate": (1.0, 5.0, 1.0)}, static={"prefetch": [1]},
                            folder=tmp_path)
    assert "prefetch stays at 1" in static._html() and len(static.keys()) == 5
