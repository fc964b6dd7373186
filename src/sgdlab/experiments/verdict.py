"""The verdict, computed from the table rows of :func:`.summary.table` (nothing hard-coded).

Two batch sizes are compared on a figure (train cost C at a common number of epochs, or at a
common training time) with their seeds' ranges: the smaller b *pays* when its whole range lies
below the larger b's and the means differ by more than ``TIE`` (relative); *worse* when the
reverse holds; a *tie* otherwise. The claim "smaller minibatches converge faster" is then
checked pair by pair from the largest b down to b = 1.
"""

from __future__ import annotations

from typing import Any

TIE = 0.005  # relative difference of mean C below which two batch sizes are called a tie


def compare(a: dict[str, Any], b: dict[str, Any], *, tie: float = TIE) -> str:
    """``"better"`` if stats ``a`` (lower is better) beats ``b`` beyond spread and ``tie``,
    ``"worse"`` for the reverse, else ``"tie"``; ``"n/a"`` when a figure is missing."""
    if a.get("mean") is None or b.get("mean") is None:
        return "n/a"
    scale = max(abs(a["mean"]), abs(b["mean"]), 1e-12)
    if a["max"] < b["min"] and (b["mean"] - a["mean"]) / scale > tie:
        return "better"
    if b["max"] < a["min"] and (a["mean"] - b["mean"]) / scale > tie:
        return "worse"
    return "tie"


def _fmt(s: dict[str, Any], f: str = ".4f") -> str:
    return "—" if s.get("mean") is None else format(s["mean"], f)


def ladder(rows: list[dict[str, Any]], figure: str) -> dict[str, Any]:
    """Compare each b with the next larger one on ``figure`` (a stats key of the rows).

    Returns ``{"pairs": [(small, large, outcome)], "answer": "yes"|"not always"|"no",
    "pays_down_to": b}``: the smallest b reached from the largest by steps that all pay."""
    rows = [r for r in rows if not r.get("all_diverged")]
    pairs = [
        (s["batch_size"], g["batch_size"], compare(s[figure], g[figure]))
        for s, g in zip(rows, rows[1:], strict=False)
    ]
    outcomes = [o for _, _, o in pairs]
    down_to = rows[-1]["batch_size"] if rows else None
    for small, _, o in reversed(pairs):
        if o != "better":
            break
        down_to = small
    answer = (
        "yes"
        if outcomes and all(o == "better" for o in outcomes)
        else "no"
        if not any(o == "better" for o in outcomes)
        else "not always"
    )
    return {"pairs": pairs, "answer": answer, "pays_down_to": down_to}


def _ladder_text(lad: dict[str, Any], rows, figure: str) -> str:
    vals = ", ".join(
        f"b={r['batch_size']}: {_fmt(r[figure])}" for r in rows if not r.get("all_diverged")
    )
    bad = [f"b={s} vs b={g}: {o}" for s, g, o in lad["pairs"] if o != "better"]
    ok = [r for r in rows if not r.get("all_diverged") and r[figure].get("mean") is not None]
    best = min(ok, key=lambda r: r[figure]["mean"])["batch_size"] if ok else None
    text = f"C = {vals} (lowest: b={best}). Smaller b pays: **{lad['answer']}**"
    if lad["answer"] != "yes" and lad["pays_down_to"] is not None:
        text += (
            f"; making b smaller keeps paying from the largest b down to "
            f"b={lad['pays_down_to']}, not beyond ({'; '.join(bad)})"
        )
    return text + "."


def verdict(rows: list[dict[str, Any]], *, convex_note: bool = True) -> str:
    """Markdown: per epoch, per second, where it stops paying, and the time to each target."""
    ok = [r for r in rows if not r.get("all_diverged")]
    if len(ok) < 2:
        return "Too few batch sizes finished to compare."
    e = ok[0]["common_epochs"]
    per_epoch = ladder(ok, "cost_at_common_epochs")
    ep1 = [{**r, "c1": r["epoch1"]["train_cost"]} for r in ok]
    per_epoch1 = ladder(ep1, "c1")
    per_sec = ladder(ok, "cost_at_common_time")
    lines = ["### Verdict (computed from the runs above)", ""]
    lines.append(f"- **Per epoch, after 1 epoch:** {_ladder_text(per_epoch1, ep1, 'c1')}")
    lines.append(
        f"- **Per epoch, after {e} epochs:** {_ladder_text(per_epoch, ok, 'cost_at_common_epochs')}"
    )
    t = ok[0]["common_time_s"]
    lines.append(
        f"- **Per second, after {t:.3g} s of training** (the shortest budget of any b): "
        f"{_ladder_text(per_sec, ok, 'cost_at_common_time')}"
    )
    for target in ok[0]["time_to"]:
        reached = [
            (r["time_to"][target]["mean"], r["batch_size"])
            for r in ok
            if r["time_to"][target]["n"] == len(r["seeds"])
        ]
        missed = [
            f"b={r['batch_size']}" for r in ok if r["time_to"][target]["n"] != len(r["seeds"])
        ]
        if reached:
            res = {r["batch_size"]: r["resolution_s"] or 0.0 for r in ok}
            ranked = sorted(reached)
            best_t, best_b = ranked[0]
            order = ", ".join(f"b={b}: {s:.3g} s (res. {res[b]:.2g})" for s, b in ranked)
            text = (
                f"- **Time to {float(target):.0%} validation accuracy** (mean over seeds, "
                f"res. = time between evaluation points; fastest first): {order}. "
                f"Fastest: **b={best_b}**"
            )
            ties = [f"b={b}" for s, b in ranked[1:] if s - best_t <= max(res[b], res[best_b])]
            if ties:
                text += f", tied within the resolution with {', '.join(ties)}"
            if missed:
                text += f"; not reached by every seed within the budget: {', '.join(missed)}"
            lines.append(text + ".")
        else:
            lines.append(
                f"- **{float(target):.0%} validation accuracy**: not reached by any b "
                "in every seed within the budget."
            )
    edge = [f"b={r['batch_size']}" for r in ok if r.get("lr_at_edge")]
    if edge:
        lines.append(
            f"- Caveat: the chosen lr lies at the edge of its grid for "
            f"{', '.join(edge)}; a wider grid might change those rows."
        )
    if convex_note:
        lines.append(
            "- The chapter's other claim (noise helps escape local minima) cannot be "
            "tested on this model: C is convex in (W, b), so it has no local minima "
            "other than the global one; see the 2-D illustration."
        )
    return "\n".join(lines)
