"""CharLSTM: the forward contract, carried state, seeded construction and config validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from poetry_lab.core.model import (
    CELLS,
    CharLSTM,
    ModelConfig,
    build_model,
    detach_state,
    map_state,
    state_outputs,
    state_parts,
    state_rows,
)
from poetry_lab.errors import PoetryLabError

CPU = torch.device("cpu")
V = 23


def _model(cell: str, layers: int, seed: int = 0, **kw) -> CharLSTM:
    cfg = ModelConfig(vocab_size=V, cell=cell, hidden=kw.pop("hidden", 24), emb_dim=kw.pop("emb_dim", 12), layers=layers, **kw)
    return build_model(cfg, seed=seed, device=CPU).eval()


def _ids(b: int, t: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, V, (b, t), generator=torch.Generator().manual_seed(seed))


CELLS_LAYERS = [("lstm", 1), ("lstm", 2), ("gru", 1), ("gru", 2)]


@pytest.mark.parametrize("cell, layers", CELLS_LAYERS)
def test_forward_shapes_and_state(cell, layers):
    model = _model(cell, layers)
    idx = _ids(3, 7)
    logits, loss, state = model(idx)
    assert logits.shape == (3, 7, V)
    assert loss is None
    assert len(state) == layers
    for s in state:
        if cell == "lstm":
            h, c = s
            assert h.shape == c.shape == (3, 24)
        else:
            assert isinstance(s, torch.Tensor) and s.shape == (3, 24)


@pytest.mark.parametrize("cell, layers", CELLS_LAYERS)
def test_initial_loss_is_a_scalar_near_ln_vocab(cell, layers):
    model = _model(cell, layers)
    idx, targets = _ids(4, 50, seed=1), _ids(4, 50, seed=2)
    logits, loss, _ = model(idx, targets)
    assert loss.dim() == 0
    assert abs(loss.item() - math.log(V)) < 0.3
    manual = torch.nn.functional.cross_entropy(logits.reshape(-1, V), targets.reshape(-1))
    assert torch.allclose(loss, manual)


@pytest.mark.parametrize("cell, layers", CELLS_LAYERS)
def test_carried_state_equals_one_long_pass(cell, layers):
    model = _model(cell, layers)
    idx = _ids(2, 40, seed=3)
    with torch.no_grad():
        full, _, full_state = model(idx)
        first, _, state = model(idx[:, :17])
        second, _, state = model(idx[:, 17:], state=state)
    assert torch.allclose(torch.cat([first, second], dim=1), full, atol=1e-5)
    for a, b in zip(state, full_state):
        for x, y in zip(a if isinstance(a, tuple) else (a,), b if isinstance(b, tuple) else (b,)):
            assert torch.allclose(x, y, atol=1e-5)
    # Without the state, the second chunk is different: the state really carries information.
    with torch.no_grad():
        fresh, _, _ = model(idx[:, 17:])
    assert not torch.allclose(fresh, second, atol=1e-4)


def test_detach_state_keeps_values_and_cuts_the_graph():
    model = _model("lstm", 2).train()
    _, _, state = model(_ids(2, 5))
    detached = detach_state(state)
    for (h, c), (h2, c2) in zip(state, detached):
        assert torch.equal(h, h2) and torch.equal(c, c2)
        assert h.requires_grad and not h2.requires_grad and not c2.requires_grad
    _, _, gru_state = _model("gru", 2).train()(_ids(2, 5))
    detached_gru = detach_state(gru_state)
    assert all(torch.equal(a, b) and not b.requires_grad for a, b in zip(gru_state, detached_gru))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_same_seed_same_weights_different_seed_different_weights(cell):
    a, b, c = _model(cell, 2, seed=7), _model(cell, 2, seed=7), _model(cell, 2, seed=8)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert sa.keys() == sb.keys() == sc.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k
    differing = [k for k in sa if not torch.equal(sa[k], sc[k])]
    # The LSTM forget-gate hidden biases are zero whatever the seed; every weight matrix must differ.
    assert all(k in differing for k in sa if k.endswith("weight") or "weight_" in k)


def test_lstm_forget_gate_bias_starts_at_one():
    model = _model("lstm", 2)
    H = model.config.hidden
    for rnn in model.rnns:
        assert torch.all(rnn.bias_ih_l0[H : 2 * H] == 1.0)
        assert torch.all(rnn.bias_hh_l0[H : 2 * H] == 0.0)


def test_seed_none_gives_fresh_weights():
    a = build_model(ModelConfig(vocab_size=V, hidden=16, emb_dim=8), seed=None, device=CPU)
    b = build_model(ModelConfig(vocab_size=V, hidden=16, emb_dim=8), seed=None, device=CPU)
    assert not torch.equal(a.embed.weight, b.embed.weight)


def test_build_model_leaves_global_rng_untouched():
    before = torch.get_rng_state()
    build_model(ModelConfig(vocab_size=V, hidden=16, emb_dim=8), seed=3, device=CPU)
    assert torch.equal(before, torch.get_rng_state())


def test_build_model_result_does_not_depend_on_global_rng():
    torch.manual_seed(1)
    a = build_model(ModelConfig(vocab_size=V, hidden=16, emb_dim=8), seed=3, device=CPU)
    torch.manual_seed(2)
    b = build_model(ModelConfig(vocab_size=V, hidden=16, emb_dim=8), seed=3, device=CPU)
    for (k, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(x, y), k


def test_dropout_with_generator_is_reproducible_and_off_in_eval():
    model = build_model(ModelConfig(vocab_size=V, hidden=16, emb_dim=8, dropout=0.5), seed=0, device=CPU)
    idx = _ids(2, 10)
    model.train()
    model.dropout_generator = torch.Generator().manual_seed(5)
    a, _, _ = model(idx)
    model.dropout_generator = torch.Generator().manual_seed(5)
    b, _, _ = model(idx)
    assert torch.equal(a, b)
    model.eval()
    with torch.no_grad():
        e1, _, _ = model(idx)
        e2, _, _ = model(idx)
    assert torch.equal(e1, e2) and not torch.allclose(a.detach(), e1)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"vocab_size": 10, "cell": "rnn"},
        {"vocab_size": 1},
        {"vocab_size": 10, "hidden": 0},
        {"vocab_size": 10, "emb_dim": 0},
        {"vocab_size": 10, "layers": 0},
        {"vocab_size": 10, "dropout": 1.0},
        {"vocab_size": 10, "dropout": -0.1},
    ],
)
def test_model_config_rejects_bad_values(kwargs):
    with pytest.raises((ValueError, PoetryLabError)):
        ModelConfig(**kwargs)


def test_model_config_to_dict_round_trip():
    cfg = ModelConfig(vocab_size=10, cell="gru", hidden=8, layers=2, dropout=0.2, emb_dim=4)
    assert ModelConfig(**cfg.to_dict()) == cfg


def test_num_params_counts_every_parameter():
    model = _model("lstm", 1)
    E, H = 12, 24
    expected = V * E + (4 * H * E + 4 * H * H + 8 * H) + (H * V + V)
    assert model.num_params() == expected


# --- the cell kinds: what the model tells samplers, decoders, trainers and embedding readers ---------


@pytest.mark.parametrize("cell", list(CELLS))
def test_each_cell_kind_describes_its_model(cell):
    kind = CELLS[cell]
    model = _model(cell, 2)
    H, E = model.config.hidden, model.config.emb_dim
    assert isinstance(model.rnns[0], kind.module) and model.cell_kind is kind
    assert model.rnns[0].weight_ih_l0.shape == (kind.gates * H, E)
    assert sorted(kind.numpy_blocks) == list(range(kind.gates))
    assert sorted(kind.columns(H)) == list(range(kind.gates * H))
    idx = _ids(3, 6)
    with torch.no_grad():
        _, _, state = model(idx)
        top, _ = model.rnns[1](model.rnns[0](model.embed(idx))[0])
    zero = kind.zero_state(3, H, 2)
    assert len(state) == len(zero) == 2
    for s, z in zip(state, zero):
        assert len(state_parts(s)) == len(state_parts(z)) == kind.parts
        assert all(x.shape == y.shape == (3, H) and not y.any() for x, y in zip(state_parts(s), state_parts(z)))
    assert torch.allclose(state_outputs(state)[1], top[:, -1], atol=1e-6)  # the first part is the layer's output
    # A zero state and no state are the same start.
    with torch.no_grad():
        assert torch.equal(model(idx, state=zero)[0], model(idx)[0])


@pytest.mark.parametrize("cell", list(CELLS))
def test_state_rows_select_reorder_and_repeat(cell):
    model = _model(cell, 2)
    with torch.no_grad():
        _, _, state = model(_ids(3, 6))
    picked = state_rows(state, [2, 0, 0])
    for s, p in zip(state, picked):
        for x, y in zip(state_parts(s), state_parts(p), strict=True):
            assert torch.equal(y, torch.stack([x[2], x[0], x[0]]))
    numpy_rows = state_rows(map_state(state, torch.Tensor.numpy), np.array([1]))
    assert [len(state_parts(s)) for s in numpy_rows] == [CELLS[cell].parts] * 2
    assert all(x.shape == (1, 24) for s in numpy_rows for x in state_parts(s))


@pytest.mark.parametrize("cell", list(CELLS))
def test_step_weights_fold_the_biases_the_cell_allows(cell):
    model = _model(cell, 2)
    first, weights = model.rnns[0], model.step_weights()
    with torch.no_grad():
        gates = model.embed.weight @ first.weight_ih_l0.T + first.bias_ih_l0  # (V, G*H): W_ih e + b_ih
        if model.cell_kind.fold_hidden_bias:
            gates = gates + first.bias_hh_l0
    assert torch.allclose(weights[0].w_in, gates, atol=1e-6)
    assert torch.equal(weights[1].w_in, model.rnns[1].weight_ih_l0.T) and torch.equal(weights[1].w_hh, model.rnns[1].weight_hh_l0.T)
    H, c = model.config.hidden, model.cell_kind.candidate
    with torch.no_grad():
        candidate = model.input_candidate(model.embed.weight[None])[0]  # every character, no context
    assert torch.allclose(candidate, torch.tanh(gates[:, c * H : (c + 1) * H]), atol=1e-6)


@pytest.mark.parametrize("cell,layers", [("lstm", 1), ("lstm", 2), ("gru", 1)])
def test_a_widened_model_computes_what_it_did_and_its_new_units_learn(cell, layers):
    from poetry_lab.core.model import widened

    model = build_model(ModelConfig(vocab_size=11, cell=cell, hidden=12, emb_dim=5, layers=layers, dropout=0.0), seed=3,
                        device=torch.device("cpu"))
    wide = widened(model, 20)
    assert wide.config.hidden == 20 and wide.num_params() > model.num_params()
    idx = torch.randint(0, 11, (3, 17), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.allclose(model(idx)[0], wide(idx)[0], atol=1e-6)
    _, loss, _ = wide(idx[:, :-1], idx[:, 1:])
    loss.backward()
    assert wide.head.weight.grad[:, 12:].abs().sum() > 0  # the new units' zero weights get a gradient
    with pytest.raises(PoetryLabError, match="narrowed"):
        widened(model, 8)
