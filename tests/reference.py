"""NumPy references of the GMSA equations, written from the paper.

Sahu and Goyal, ICASSP 2022: eq. 1-4 (multi-head attention), eq. 5-6 (local
maps), eq. 7 (GateAtt), eq. 9-13 (GateOp). They take a layer's weights as
NumPy arrays and share no code with the library except the mask index rules,
which are themselves tested against loops in test_masks.py.
"""

import numpy as np


def softmax(x, axis=-1):
    x = x - x.max(axis=axis, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=axis, keepdims=True)


def mask_loops(kind, W, L, T):
    """The neighbourhood N_i of DESIGN.md by explicit loops."""
    m = np.zeros((T, T), bool)
    for i in range(T):
        for j in range(T):
            if kind == "global":
                m[i, j] = True
            elif kind == "bd":
                m[i, j] = i // W == j // W
            elif kind == "tp":
                m[i, j] = abs(i - j) <= W
            elif kind == "td":
                m[i, j] = abs(i - j) <= W and (i - j) % L == 0
    return m


def attention_maps(x, wq, bq, wk, bk, mask=None, valid=None):
    """A_m per head: x (T, D), wq (D, M, d). mask (M, T, T) or None."""
    T = x.shape[0]
    q = np.einsum("td,dmk->mtk", x, wq) + bq.T[:, None, :]
    k = np.einsum("td,dmk->mtk", x, wk) + bk.T[:, None, :]
    scores = q @ k.transpose(0, 2, 1) / np.sqrt(wq.shape[-1])
    allowed = np.ones((wq.shape[1], T, T), bool) if mask is None else mask
    if valid is not None:
        allowed = allowed & valid[None, :, None] & valid[None, None, :]
    maps = np.zeros_like(scores)
    for m in range(scores.shape[0]):
        for i in range(T):
            keys = allowed[m, i]
            if keys.any():
                maps[m, i, keys] = softmax(scores[m, i, keys])
    return maps


def heads_times_values(maps, x, wv, bv):
    v = np.einsum("td,dmk->mtk", x, wv) + bv.T[:, None, :]
    return np.einsum("mts,msk->tmk", maps, v)  # (T, M, dv)


def project(o, wo, bo):
    return np.einsum("tmk,mkd->td", o, wo) + bo


def local_masked_mha(x, w, mask=None, valid=None):
    """eq. 1-6. w: dict with query/key/value/output kernels and biases."""
    maps = attention_maps(x, w["wq"], w["bq"], w["wk"], w["bk"], mask, valid)
    out = project(
        heads_times_values(maps, x, w["wv"], w["bv"]), w["wo"], w["bo"]
    )
    if valid is not None:
        out = out * valid[:, None]
    return out, maps


def gated_attention_maps(x, w, mask, valid=None, renormalize=False):
    """eq. 7 literally: softmax over a new axis of the two gate products."""
    ag = attention_maps(x, w["wq"], w["bq"], w["wk"], w["bk"], None, valid)
    al = attention_maps(x, w["wq"], w["bq"], w["wk"], w["bk"], mask, valid)
    stacked = np.stack([ag @ w["gate_g"], al @ w["gate_l"]], axis=0)
    r = softmax(stacked, axis=0)
    a = r[0] * ag + r[1] * al
    if renormalize:
        s = a.sum(-1, keepdims=True)
        a = np.where(s > 0, a / np.where(s > 0, s, 1), 0)
    out = project(heads_times_values(a, x, w["wv"], w["bv"]), w["wo"], w["bo"])
    if valid is not None:
        out = out * valid[:, None]
    return out, a


def gated_context_mha(x, w, mask, valid=None):
    """eq. 9-13 literally."""
    ag = attention_maps(x, w["wq"], w["bq"], w["wk"], w["bk"], None, valid)
    al = attention_maps(x, w["wq"], w["bq"], w["wk"], w["bk"], mask, valid)
    og = heads_times_values(ag, x, w["wv"], w["bv"])  # concat over heads
    ol = heads_times_values(al, x, w["wv"], w["bv"])
    T = x.shape[0]
    og_flat, ol_flat = og.reshape(T, -1), ol.reshape(T, -1)
    yg = og_flat @ w["wo"].reshape(-1, w["wo"].shape[-1]) + w["bo"]
    yl = ol_flat @ w["wol"].reshape(-1, w["wol"].shape[-1]) + w["bol"]
    gates = np.stack(
        [
            og_flat @ w["gate_g"].reshape(-1, yg.shape[-1]),
            ol_flat @ w["gate_l"].reshape(-1, yg.shape[-1]),
        ]
    )
    r = softmax(gates, axis=0)
    y = r[0] * yg + r[1] * yl
    if valid is not None:
        y = y * valid[:, None]
    return y, (ag, al)
