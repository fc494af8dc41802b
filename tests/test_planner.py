"""The arena planner: property-tested (no two simultaneously live buffers overlap, the reported
arena is the true extent and never below the live-bytes lower bound), plus the aliasing the code
generator relies on (RESHAPE views, in-place elementwise ops, the caller's input buffer)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_gen import codegen, graph, planner
from firmware_gen.planner import Buffer, align

buffers_st = st.lists(
    st.tuples(st.integers(1, 5000), st.integers(-1, 30), st.integers(0, 12)),
    min_size=0, max_size=40,
).map(lambda rows: [Buffer(name=f"b{i}", size=size, first=first, last=first + length)
                    for i, (size, first, length) in enumerate(rows)])


@settings(max_examples=300, deadline=None, derandomize=True)
@given(buffers_st)
def test_plan_properties(bufs):
    plan = planner.plan(bufs)
    assert set(plan.offsets) == {b.name for b in bufs}
    for b in bufs:
        assert plan.offsets[b.name] % planner.ALIGNMENT == 0
    for i, a in enumerate(bufs):
        for b in bufs[i + 1:]:
            if planner.overlaps(a, b):
                oa, ob = plan.offsets[a.name], plan.offsets[b.name]
                assert oa + a.size <= ob or ob + b.size <= oa, (a, b, oa, ob)
    # reported arena == the true peak extent of the placement
    extent = max((plan.offsets[b.name] + align(b.size) for b in bufs), default=0)
    assert plan.arena_bytes == extent
    assert plan.arena_bytes >= planner.lower_bound(bufs)


def test_plan_reuses_dead_memory_best_fit():
    # a (0..1) and b (2..3) never live together: b reuses a's bytes; c overlaps both
    bufs = [Buffer("a", 1000, 0, 1), Buffer("b", 1000, 2, 3), Buffer("c", 100, 0, 3)]
    plan = planner.plan(bufs)
    assert plan.offsets["a"] == plan.offsets["b"]
    assert plan.arena_bytes == align(1000) + align(100)


def test_best_fit_picks_the_smallest_gap():
    bufs = [Buffer("big", 4096, 0, 9), Buffer("hole_small", 64, 0, 0), Buffer("mid", 512, 0, 9),
            Buffer("hole_big", 1024, 0, 0), Buffer("top", 64, 0, 9), Buffer("late", 48, 5, 6)]
    plan = planner.plan(bufs)
    # "late" fits in both holes (64 and 1024 bytes, dead after op 0): best fit takes the 64-byte one
    assert plan.offsets["late"] == plan.offsets["hole_small"]


def test_lower_bound_is_peak_live_bytes():
    bufs = [Buffer("a", 10, 0, 2), Buffer("b", 20, 1, 3), Buffer("c", 5, 3, 4)]
    assert planner.lower_bound(bufs) == 30


def test_reshape_aliases_and_input_is_read_in_place(testdata):
    # micro_speech: RESHAPE(input) -> DEPTHWISE_CONV_2D: the reshape output is the caller's input
    g = graph.load(testdata / "tflm_micro_speech_int8.tflite")
    bufs, place = codegen.buffers(g)
    reshape = g.nodes[0]
    assert reshape.opcode == "RESHAPE" and reshape.view
    assert place[reshape.outputs[0]] == (codegen.INPUT, 0) == place[g.inputs[0]]
    assert str(g.inputs[0]) not in {b.name for b in bufs}


def test_residual_add_runs_in_place(testdata):
    g = graph.load(testdata / "mlperf_tiny_ic_resnet8_int8.tflite")
    for overlap in (False, True):
        bufs, place = codegen.buffers(g, overlap=overlap)
        adds = [n for n in g.nodes if n.opcode == "ADD"]
        assert adds
        for node in adds:
            assert place[node.outputs[0]] in {place[i] for i in node.inputs}
    bufs, _ = codegen.buffers(g, overlap=False)
    # without overlapping, three 32x32x16 activations are live in the first residual block
    aligned = [Buffer(b.name, align(b.size), b.first, b.last) for b in bufs]
    assert planner.plan(bufs).arena_bytes == planner.lower_bound(aligned) == 3 * 32 * 32 * 16


def test_lag_bytes_by_hand(testdata):
    g = graph.load(testdata / "mlperf_tiny_ic_resnet8_int8.tflite")
    # 3x3 stride 1 SAME on 32x32x16: output row y may be written once input row y-1 is dead,
    # so the output starts two rows (2 * 32 * 16 bytes) below the input
    assert codegen.lag_bytes(g.nodes[2], g) == 2 * 32 * 16
    # 1x1 stride 2 VALID 32x32x16 -> 16x16x32: one output row (512 B) ahead is enough
    assert g.nodes[6].opcode == "CONV_2D" and g.nodes[6].options.strideH == 2
    assert codegen.lag_bytes(g.nodes[6], g) == 16 * 32


def test_overlapping_outputs_sit_below_their_dying_input(testdata):
    g = graph.load(testdata / "mlperf_tiny_ic_resnet8_int8.tflite")
    _, place = codegen.buffers(g, overlap=True)
    conv2 = g.nodes[2]
    (gi, ri), (go, ro) = place[conv2.inputs[0]], place[conv2.outputs[0]]
    assert gi == go and ri - ro == codegen.lag_bytes(conv2, g)
