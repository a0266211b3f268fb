"""The three model types, all under one contract.

Every model maps a sequence of normalised noisy log-mel frames (batch, T, n_mels x channels: one channel, or
two with the 'running+floor' normalisation) to per-frame mel-band gains in [0, 1] (batch, T, n_mels), through
a sigmoid. Every model is causal in its own frames; a lookahead
of `delay` frames is a delay: output frame t is the gain of input frame t - delay, so a model with
`delay = context_future` sees that many future frames. The context therefore exists once, here, and
training, evaluation, offline denoising, block processing and streaming all run the same layers.

- Type 1, the dense deep denoising autoencoder of Lu et al. (2013): a window of past + 1 + future frames
  through dense layers (a Conv1D whose kernel spans the window, then per-frame dense layers; the same
  function as flattening the window into a dense layer).
- Type 2, a convolutional encoder-decoder over (frames x mel bands) patches: each encoder layer halves the
  mel axis, transposed convolutions restore it, a last convolution over time spans the rest of the window.
- Type 3, recurrent, in the spirit of RNNoise and GTCRN: two causal Conv1D (kernel 3) front-end layers,
  GRUs (`gru_layers`, two unless chosen), and a dense sigmoid layer over the concatenated conv and GRU
  outputs. Its state is carried across streaming chunks and across the blocks of long files. With a lookahead
  and `skip`, the gain layer also gets the front-end output of the frame it gains (held back `delay` frames),
  so that frame reaches it directly and not only through the GRUs' memory. With `band_filters`, a band front
  end in the spirit of GTCRN's encoder first looks at each frame along the mel axis: two convolutions over the
  bands (kernel 5, tanh; the second halves the axis), whose per-band features go into the first front-end
  layer beside the frames themselves. It works on one frame at a time, so it carries no state.

`build_model` gives the training model (zero state at the start of every sequence); `stream_model` wires
the same layers with their state as explicit inputs and outputs: (frames, *state) -> (gains, *state).
Offline processing is streaming from the zero state, so both give the same gains.
"""

from __future__ import annotations

from .errors import DenoiserError

MODEL_TYPES = (1, 2, 3)
FRONT_KERNEL = 3  # type 3: kernel of each causal front-end convolution
BAND_KERNEL = 5  # type 3 with band filters: bands each convolution over the mel axis spans


def receptive_field(model_type: int, past: int, future: int) -> int:
    """Frames of input that one output sees (type 3: unbounded, returned as 0)."""
    return 0 if model_type == 3 else past + 1 + future


class _Wiring:
    """Creates layers (training model) or reuses a trained model's layers by name (stream model)."""

    def __init__(self, stream: bool, source=None):
        import keras

        self.keras = keras
        self.stream, self.source = stream, source
        self.state_in, self.state_out = [], []

    def layer(self, name: str, make):
        if self.source is not None:
            try:
                return self.source.get_layer(name)
            except ValueError:
                raise DenoiserError(f"the saved model has no layer {name!r}: it was not made by this version") from None
        return make(name)

    def causal(self, x, frames: int, name: str):
        """Give a layer `frames - 1` frames of past: zeros (training model) or the carried state (stream)."""
        if frames <= 1:
            return x
        layers = self.keras.layers
        if not self.stream:
            pad = [(frames - 1, 0)] + [(0, 0)] * (len(x.shape) - 3)
            cls = layers.ZeroPadding1D if len(x.shape) == 3 else layers.ZeroPadding2D
            return cls(pad[0] if len(x.shape) == 3 else tuple(pad), name=f"{name}_past")(x)
        state = self.keras.Input((frames - 1,) + tuple(x.shape[2:]), name=f"{name}_state")
        self.state_in.append(state)
        x = layers.Concatenate(axis=1, name=f"{name}_with_state")([state, x])
        self.state_out.append(x[:, -(frames - 1):])
        return x

    def delayed(self, x, frames: int, name: str):
        """x held back `frames` frames: output t is input t - frames (zeros, or the carried frames, first)."""
        h = self.causal(x, frames + 1, name)
        return self.keras.layers.Cropping1D((0, frames), name=f"{name}_delayed")(h)

    def gru(self, x, units: int, name: str):
        g = self.layer(name, lambda n: self.keras.layers.GRU(units, return_sequences=True, return_state=True, name=n))
        if not self.stream:
            return g(x)[0]
        state = self.keras.Input((units,), name=f"{name}_state")
        self.state_in.append(state)
        y, new = g(x, initial_state=state)
        self.state_out.append(new)
        return y


def _ints(text: str, name: str) -> list[int]:
    try:
        values = [int(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise DenoiserError(f"{name} must be comma-separated integers, got {text!r}") from None
    if not values or min(values) <= 0:
        raise DenoiserError(f"{name} must be comma-separated positive integers, got {text!r}")
    return values


def _wire(w: _Wiring, x, arch: dict):
    """The layers of one architecture, applied to x: shared by the training and the stream model."""
    layers = w.keras.layers
    t, n_mels, context = arch["model_type"], arch["n_mels"], arch["past"] + 1 + arch["future"]
    if t == 1:
        units = _ints(arch["units"], "units")
        h = w.causal(x, context, "window")
        h = w.layer("window", lambda n: layers.Conv1D(units[0], context, activation="relu", name=n))(h)
        for i, n_units in enumerate(units[1:], 1):
            if arch["dropout"] > 0 and not w.stream:
                h = layers.Dropout(arch["dropout"], name=f"dropout_{i}")(h)
            h = w.layer(f"dense_{i}", lambda n, u=n_units: layers.Dense(u, activation="relu", name=n))(h)
    elif t == 2:
        widths = _ints(arch["filters"], "filters")
        if n_mels % (2 ** len(widths)):
            raise DenoiserError(f"type 2 needs n_mels divisible by {2 ** len(widths)} (one halving per filter layer)")
        last = max(1, context - 2 * len(widths))  # encoder layers see 3 frames each; the last layer the rest
        h = _as_image(layers, x, arch, "")
        for i, n_ch in enumerate(widths):
            h = w.causal(h, 3, f"enc_{i}")
            h = layers.ZeroPadding2D(((0, 0), (1, 1)), name=f"enc_{i}_bands")(h)
            h = w.layer(f"enc_{i}", lambda n, c=n_ch: layers.Conv2D(c, (3, 3), strides=(1, 2), activation="relu", name=n))(h)
        for i, n_ch in enumerate(reversed([8] + widths[:-1])):
            h = w.layer(f"dec_{i}", lambda n, c=n_ch: layers.Conv2DTranspose(c, (1, 3), strides=(1, 2), padding="same",
                                                                               activation="relu", name=n))(h)
        h = w.causal(h, last, "to_frame")
        h = w.layer("to_frame", lambda n: layers.Conv2D(1, (last, 1), name=n))(h)
        h = layers.Reshape((-1, n_mels), name="as_frames")(h)
    elif t == 3:
        u = int(arch["units"])
        h = x
        if band_filters(arch):
            h = layers.Concatenate(name="frames_and_bands")([x, _bands(w, x, arch)])
        for i in range(2):
            h = w.causal(h, FRONT_KERNEL, f"front_{i}")
            h = w.layer(f"front_{i}", lambda n: layers.Conv1D(u, FRONT_KERNEL, activation="tanh", name=n))(h)
        grus = [h]
        for i in range(gru_layers(arch)):
            grus.append(w.gru(grus[-1], u, f"gru_{i}"))
        parts = grus[:3]
        if arch.get("skip") and arch["future"] > 0:
            parts.append(w.delayed(h, arch["future"], "gained_frame"))
        h = layers.Concatenate(name="features_and_state")(parts + grus[3:])  # GRUs beyond the second go last: a run grows by appending
    else:
        raise DenoiserError(f"model_type must be 1 (dense), 2 (convolutional) or 3 (recurrent), got {t}")
    return w.layer("gains", lambda n: layers.Dense(n_mels, activation="sigmoid", name=n))(h)


def _as_image(layers, x, arch: dict, prefix: str):
    """(batch, T, channels x n_mels) -> (batch, T, n_mels, channels): each frame as a row of bands with channels."""
    h = layers.Reshape((-1, arch.get("channels", 1), arch["n_mels"]), name=f"{prefix}as_image")(x)
    return layers.Permute((1, 3, 2), name=f"{prefix}bands_then_channels")(h)


def _bands(w: _Wiring, x, arch: dict):
    """The band front end: (batch, T, channels x n_mels) -> (batch, T, n_mels / 2 x band_filters), per frame."""
    layers, f = w.keras.layers, band_filters(arch)
    b = _as_image(layers, x, arch, "bands_")
    for i, stride in enumerate((1, 2)):
        b = layers.ZeroPadding2D(((0, 0), (BAND_KERNEL // 2, BAND_KERNEL // 2)), name=f"bands_{i}_edges")(b)
        b = w.layer(f"bands_{i}", lambda nm, s=stride: layers.Conv2D(f, (1, BAND_KERNEL), strides=(1, s),
                                                                     activation="tanh", name=nm))(b)
    return layers.Reshape((-1, band_outputs(arch)), name="bands_flat")(b)


def band_filters(arch: dict) -> int:
    """Type 3's band front-end channels (0: none; runs saved before it existed have none)."""
    return int(arch.get("band_filters", 0))


def band_outputs(arch: dict) -> int:
    """Features the band front end adds to each frame."""
    return (arch["n_mels"] + 1) // 2 * band_filters(arch)


def gru_layers(arch: dict) -> int:
    """Type 3's number of GRU layers (runs saved before it could be chosen have two)."""
    return int(arch.get("gru_layers", 2))


def architecture(model_type: int, n_mels: int, past: int, future: int, units: str = "512,256,128,256,512",
                 filters: str = "16,32", recurrent_units: int = 128, dropout: float = 0.0, channels: int = 1,
                 skip: bool = False, recurrent_layers: int = 2, band_filters: int = 0) -> dict:
    """The description saved with a run, from which its layers are rebuilt (`skip`: type 3 with a lookahead
    only; runs saved before it existed have no such key and are read as without; `recurrent_layers`: type 3's
    GRU layers, at least 1; `band_filters`: type 3's band front end, 0 for none)."""
    if model_type not in MODEL_TYPES:
        raise DenoiserError(f"model_type must be 1 (dense), 2 (convolutional) or 3 (recurrent), got {model_type}")
    if past < 0 or future < 0:
        raise DenoiserError("context frames must be >= 0")
    if int(recurrent_layers) < 1:
        raise DenoiserError(f"recurrent_layers must be at least 1, got {recurrent_layers}")
    if int(band_filters) < 0:
        raise DenoiserError(f"band_filters must be 0 or more, got {band_filters}")
    extra = {"gru_layers": int(recurrent_layers)} if model_type == 3 else {}
    if model_type == 3 and int(band_filters):
        extra["band_filters"] = int(band_filters)
    return {**extra, "model_type": int(model_type), "n_mels": int(n_mels), "past": 0 if model_type == 3 else int(past),
            "future": int(future), "units": int(recurrent_units) if model_type == 3 else str(units),
            "filters": str(filters), "dropout": float(dropout), "channels": int(channels),
            "skip": bool(skip) and model_type == 3 and future > 0}


def growth(arch: dict, source_arch: dict) -> list[str]:
    """What `arch` adds to `source_arch` (type 3): the lookahead skip, more GRU layers, more units per layer,
    the band front end; empty when nothing."""
    if arch["model_type"] != 3 or source_arch["model_type"] != 3:
        return []
    more = gru_layers(arch) - gru_layers(source_arch)
    wider = int(arch["units"]) - int(source_arch["units"])
    return ((["the lookahead skip"] if arch.get("skip") and not source_arch.get("skip", False) else [])
            + ([f"{more} GRU layer(s)"] if more > 0 else [])
            + ([f"{wider} units per layer"] if wider > 0 else [])
            + (["the band front end"] if band_filters(arch) and not band_filters(source_arch) else []))


def embed(fresh, old, blocks: int = 1, in_axis: int | None = None, widths: tuple[int, int] | None = None,
          parts: int = 1):
    """A grown layer's weight: `old` written into a copy of the larger `fresh`. The last axis holds `blocks`
    output blocks (a GRU's z, r and h gates), each grown at its end; `in_axis` (None for a bias) holds `parts`
    concatenated inputs of `widths` = (old, new) each, grown at their ends. Every weight from a new input into an
    old output starts at zero, so the old outputs do not change; the new outputs keep their fresh weights."""
    import numpy as np

    new = np.array(fresh, copy=True)
    o_out, n_out = old.shape[-1] // blocks, new.shape[-1] // blocks
    cols = [(slice(b * o_out, (b + 1) * o_out), slice(b * n_out, b * n_out + o_out)) for b in range(blocks)]
    if in_axis is None:
        for old_cols, new_cols in cols:
            new[..., new_cols] = old[..., old_cols]
        return new
    o_in, n_in = widths or (old.shape[in_axis], new.shape[in_axis])
    for _, new_cols in cols:
        new[..., new_cols] = 0.0
    for p in range(parts):
        for old_cols, new_cols in cols:
            dst, src = [slice(None)] * new.ndim, [slice(None)] * old.ndim
            dst[in_axis], dst[-1] = slice(p * n_in, p * n_in + o_in), new_cols
            src[in_axis], src[-1] = slice(p * o_in, (p + 1) * o_in), old_cols
            new[tuple(dst)] = old[tuple(src)]
    return new


def start_from(model, source, grown: bool) -> None:
    """Give `model` the weights of the trained `source`, layer by layer. `grown` (see `growth`): `model` is
    `source`'s type 3 architecture with the lookahead skip, further GRU layers, more units per layer or the band
    front end (whose features enter the first front-end layer as new inputs) added. The
    new layers and units keep their fresh weights; every weight from a new input into an old output (a new
    unit into an old unit's gates, the gain layer's rows for new inputs) starts at zero, so the grown model starts
    out giving exactly the source's gains, and the new units learn from there."""
    if not grown:
        model.set_weights(source.get_weights())
        return
    names = {layer.name for layer in source.layers}
    u_old = int(source.get_layer("front_0").get_weights()[1].shape[0])
    u_new = int(model.get_layer("front_0").get_weights()[1].shape[0])
    for layer in model.layers:
        if not layer.weights or layer.name not in names:
            continue
        old, fresh = source.get_layer(layer.name).get_weights(), layer.get_weights()
        if layer.name == "gains":
            parts = old[0].shape[0] // u_old
            weights = [embed(fresh[0], old[0], in_axis=0, widths=(u_old, u_new), parts=parts), old[1]]
        elif layer.name.startswith("gru_"):  # kernel, recurrent kernel, bias (2, 3 units): gates z, r, h
            weights = [embed(fresh[0], old[0], 3, 0), embed(fresh[1], old[1], 3, 0), embed(fresh[2], old[2], 3)]
        else:  # the front end's Conv1D: kernel (time, inputs, units), bias
            weights = [embed(fresh[0], old[0], in_axis=1), embed(fresh[1], old[1])]
        layer.set_weights(weights)


def n_inputs(arch: dict) -> int:
    return arch["n_mels"] * arch.get("channels", 1)


def build_model(arch: dict):
    """The training model: (batch, T, inputs) normalised log-mel -> (batch, T, n_mels) gains, zero initial state."""
    import keras

    w = _Wiring(stream=False)
    x = keras.Input((None, n_inputs(arch)), name="noisy_logmel")
    return keras.Model(x, _wire(w, x, arch), name=f"ddae_type{arch['model_type']}")


def stream_model(model, arch: dict):
    """The trained model's layers with their state as inputs and outputs; returns (model, state shapes)."""
    import keras

    w = _Wiring(stream=True, source=model)
    x = keras.Input((None, n_inputs(arch)), name="noisy_logmel")
    y = _wire(w, x, arch)
    shapes = [tuple(s.shape[1:]) for s in w.state_in]
    return keras.Model([x] + w.state_in, [y] + w.state_out, name=f"{model.name}_stream"), shapes
