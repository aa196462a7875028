"""Saving a Trainer in the middle of a run and going on from there, step for step.

`Trainer.training_state()` copies everything the next step depends on; `restore()` takes it up
in a fresh Trainer over the same data and configs, so the continued run matches the uninterrupted
one (with `eval_every_steps`; time budgets go on from the saved elapsed time).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from poetry_lab.errors import PoetryLabError

STATE_FORMAT = "poetry_lab.trainer_state/1"


@dataclass
class TrainingState:
    """Everything `fit()` needs to go on exactly where it was: tensors (weights, Adam moments, best
    weights, carried hidden state, generator states as uint8) and JSON-able scalars in `meta`."""

    tensors: dict[str, torch.Tensor]
    meta: dict


class TrainerStateMixin:
    """training_state() / restore() for Trainer; the attributes used here are set by Trainer.__init__ and fit()."""

    def training_state(self) -> TrainingState:
        """A copy of everything needed to continue this run exactly; call it from an "on_step_end" callback."""
        names = {id(p): n for n, p in self.model.named_parameters()}
        t = {f"model.{k}": v for k, v in self.model.state_dict().items()}
        t.update({f"best.{k}": v for k, v in (self.best_state or {}).items()})
        for p, st in self._opt.state.items():  # keyed by name, not by position in the optimizer
            t.update({f"adam.{k}.{names[id(p)]}": v for k, v in st.items() if torch.is_tensor(v)})
        for i, s in enumerate(self._carried or []):
            t.update({f"hidden.{i}.{j}": v for j, v in enumerate(s if isinstance(s, tuple) else (s,))})
        if self._ema is not None:
            t.update({f"ema.{n}": v for (n, _), v in zip(self.model.named_parameters(), self._ema)})
        t["rng.batches"] = self._gen.get_state()
        if self.model.dropout_generator is not None:
            t["rng.dropout"] = self.model.dropout_generator.get_state()
        meta = {"format": STATE_FORMAT, "step": self.step, "elapsed": time.perf_counter() - self._start,
                "best_val": self.best_val, "best_step": self.best_step, "bad_evals": self._bad_evals,
                "losses": list(self._losses), "position": self._position, "history": list(self.history),
                "layers": len(self._carried or []), "stop_reason": self.stop_reason}
        return TrainingState({k: v.detach().to("cpu", copy=True).contiguous() for k, v in t.items()}, meta)

    def restore(self, state: TrainingState) -> None:
        """Take up `state` (from training_state(), maybe of another Trainer over the same data and configs)."""
        m, t = state.meta, state.tensors
        if m.get("format") != STATE_FORMAT:
            raise PoetryLabError("This is not a training state that Poetry Lab can continue.")
        device = next(self.model.parameters()).device
        self.model.load_state_dict({k[6:]: v for k, v in t.items() if k.startswith("model.")})
        best = {k[5:]: v.to(device) for k, v in t.items() if k.startswith("best.")}
        self.best_state = best or None
        self.best_val, self.best_step, self._bad_evals = m["best_val"], m["best_step"], m["bad_evals"]
        self.step = self.resumed_from = int(m["step"])
        self._elapsed0, self._losses, self.history = float(m["elapsed"]), list(m["losses"]), list(m["history"])
        self._resume_position = tuple(m["position"]) if m.get("position") else None
        lstm = self.model.config.cell == "lstm"
        hidden = [tuple(t[f"hidden.{i}.{j}"].to(device) for j in range(2 if lstm else 1)) for i in range(m["layers"])]
        self._carried = [h if lstm else h[0] for h in hidden] or None
        self._pending = {k: v for k, v in t.items() if k.startswith(("adam.", "rng."))}
        ema = {k[4:]: v.to(device) for k, v in t.items() if k.startswith("ema.")}
        self._ema = [ema[n] for n, _ in self.model.named_parameters()] if ema else None

    def _apply_pending(self, opt: torch.optim.Optimizer, gen: torch.Generator) -> None:
        """Restored optimizer moments and generator states, once fit() has made the optimizer."""
        t, self._pending = self._pending, {}
        if not t:
            return
        moments: dict[str, dict[str, torch.Tensor]] = {}
        for key, value in t.items():
            if key.startswith("adam."):
                _, what, name = key.split(".", 2)  # adam.exp_avg.rnns.0.weight_ih_l0
                moments.setdefault(name, {})[what] = value
        for name, p in self.model.named_parameters():
            if name in moments:  # AdamW keeps its step counter on the CPU unless it is "capturable"
                opt.state[p] = {k: v if k == "step" else v.to(p.device) for k, v in moments[name].items()}
        gen.set_state(t["rng.batches"])
        g = self.model.dropout_generator
        if g is not None and "rng.dropout" in t:
            try:
                g.set_state(t["rng.dropout"])
            except RuntimeError:  # saved on another kind of device: dropout draws differ, nothing else
                pass
