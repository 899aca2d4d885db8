"""HDF5 checkpoints: save and load the whole training state, atomically.

Layout (format "fastrnn-checkpoint", version 1), after Keras' h5 format:
    /            attrs: format, format_version, fastrnn_version, config (JSON), corpus_name,
                 corpus_chars, vocab (JSON string of the characters)
    /params      U W V b c      latest parameters
    /optimizer   U W V b c      AdaGrad accumulators G
    /best        U W V b c hprev; attrs update, smooth_loss, x0
    /state       hprev; attrs update, epoch, chunk, smooth_loss, wall_time, rng_state (JSON)
    /history     loss, smooth_loss (one per update), val_update, val_loss
    /samples     update, smooth_loss, text (the progress samples)
The file is written under a temporary name in the same directory (.NAME.HOST.PID.tmp), flushed
to disk, and moved over the old one with os.replace, so a crash or kill -9 at any moment leaves
the last complete checkpoint; temp files of killed processes are removed by the next save.
On disk the parameters have the course's shapes (U as (m, K)); in memory the training state
holds them in the kernels' layout (fastrnn.model.Params): _write and _read_state convert.
"""
from __future__ import annotations

import io
import json
import os
import socket
import h5py
import numpy as np

from .config import TrainConfig
from .errors import FastrnnError
from .model import PARAM_NAMES, Params, check_params
from .train import TrainState

FORMAT_NAME = "fastrnn-checkpoint"
FORMAT_VERSION = 1


def _write(f: h5py.File, state: TrainState) -> None:
    from . import __version__

    f.attrs.update(format=FORMAT_NAME, format_version=FORMAT_VERSION,
                   fastrnn_version=__version__, config=json.dumps(state.config.as_dict()),
                   corpus_name=state.corpus_name, corpus_chars=state.corpus_chars,
                   vocab=json.dumps(state.vocab))
    for group, arrays in (("params", state.params), ("optimizer", state.mem),
                          ("best", state.best)):
        grp = f.create_group(group)
        for k, v in arrays.course().items():
            grp.create_dataset(k, data=np.ascontiguousarray(v))
    best = f["best"]
    best.create_dataset("hprev", data=state.best_hprev)
    best.attrs.update(update=state.best_update, smooth_loss=state.best_smooth, x0=state.best_x0)
    st = f.create_group("state")
    st.create_dataset("hprev", data=state.hprev)
    st.attrs.update(update=state.update, epoch=state.epoch, chunk=state.chunk,
                    smooth_loss=state.smooth_loss, wall_time=state.wall_time,
                    next_x0=state.next_x0,
                    rng_state=json.dumps(state.rng_state))
    hist = f.create_group("history")
    hist.create_dataset("loss", data=state.loss_history[:state.update])
    hist.create_dataset("smooth_loss", data=state.smooth_history[:state.update])
    val = np.array(state.val_history, np.float64).reshape(-1, 2)
    hist.create_dataset("val_update", data=val[:, 0].astype(np.int64))
    hist.create_dataset("val_loss", data=val[:, 1])
    smp = f.create_group("samples")
    smp.create_dataset("update", data=np.array([s[0] for s in state.samples], np.int64))
    smp.create_dataset("smooth_loss", data=np.array([s[1] for s in state.samples], np.float64))
    smp.create_dataset("text", data=[s[2] for s in state.samples],
                       dtype=h5py.string_dtype("utf-8"))


def _temp_path(path: str, pid: int | None = None) -> str:
    """Where save() writes before the rename: a hidden file beside `path`, named after the
    writing host and process, e.g. `.ckpt.h5.myhost.4242.tmp`."""
    directory, base = os.path.split(os.path.abspath(path))
    return os.path.join(directory, f".{base}.{socket.gethostname()}.{pid or os.getpid()}.tmp")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:          # EPERM: alive, but someone else's
        return True
    return True


def remove_stale_temps(path: str) -> list[str]:
    """Delete the temp files of `path` left by a save that never finished (kill -9, power
    loss): only those of this host whose process is gone. Returns the names removed."""
    directory, base = os.path.split(os.path.abspath(path))
    prefix = f".{base}.{socket.gethostname()}."
    removed = []
    try:
        names = os.listdir(directory)
    except OSError:
        return removed
    for name in names:
        pid = name[len(prefix):-len(".tmp")]
        if name.startswith(prefix) and name.endswith(".tmp") and pid.isdigit() \
                and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            try:
                os.unlink(os.path.join(directory, name))
                removed.append(name)
            except OSError:
                pass
    return removed


def _why(exc: BaseException) -> str:
    """A short one-line reason for a failed write ("No space left on device", ...)."""
    errno = getattr(exc, "errno", None)
    text = os.strerror(errno) if errno else (getattr(exc, "strerror", None) or str(exc))
    return " ".join(str(text).split())


def save(state: TrainState, path: str) -> None:
    """Write the checkpoint atomically: a temp file in the same directory, flushed and fsynced,
    then os.replace over `path` (and the directory fsynced). A crash or kill -9 at any moment
    leaves either the previous checkpoint or the new one, never a mix; a failed write (disk
    full, no permission) raises FastrnnError and leaves the previous checkpoint untouched."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FastrnnError(f"cannot write {path}: directory {directory} does not exist")
    # The HDF5 image is built in memory, then written with plain os.write calls: a write that
    # fails (disk full, file too large, permission) is then a clean OSError, never a half-closed
    # HDF5 handle (whose cleanup at exit prints tracebacks and can crash the interpreter).
    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        _write(f, state)
    image = buf.getbuffer()
    tmp = _temp_path(path)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        try:
            done = 0
            while done < len(image):
                done += os.write(fd, image[done:])
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except (OSError, RuntimeError) as exc:
        kept = "the previous checkpoint is unchanged" if os.path.exists(path) else \
            "nothing was written"
        raise FastrnnError(f"cannot write {path}: {_why(exc)}; {kept}") from None
    finally:
        if os.path.exists(tmp):
            try:
                os.unlink(tmp)
            except OSError:
                pass
    try:                      # make the rename itself durable (best effort: not every FS can)
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass
    remove_stale_temps(path)


def _open(path: str) -> h5py.File:
    if not os.path.exists(path):
        raise FastrnnError(f"no such checkpoint: {path}")
    if os.path.isdir(path):
        raise FastrnnError(f"{path} is a directory, not a checkpoint")
    try:
        f = h5py.File(path, "r")
    except OSError:
        raise FastrnnError(f"{path} is not a readable HDF5 file (truncated or not HDF5)") from None
    if f.attrs.get("format") != FORMAT_NAME:
        f.close()
        raise FastrnnError(f"{path} is an HDF5 file but not a fastrnn checkpoint")
    version = int(f.attrs.get("format_version", -1))
    if version != FORMAT_VERSION:
        f.close()
        raise FastrnnError(f"{path}: checkpoint format version expected {FORMAT_VERSION}, "
                           f"got {version}" + (" (made by a newer fastrnn; upgrade)"
                                               if version > FORMAT_VERSION else ""))
    return f


def _arrays(grp, path: str, where: str) -> dict:
    missing = [k for k in PARAM_NAMES if k not in grp]
    if missing:
        raise FastrnnError(f"{path}: /{where} is missing {', '.join(missing)}")
    return {k: grp[k][()] for k in PARAM_NAMES}


def load_state(path: str) -> TrainState:
    """The full training state of a checkpoint (for --resume and the reporting tools)."""
    with _open(path) as f:
        try:
            return _read_state(f, path)
        except FastrnnError as exc:       # a shape or dtype check: say which file
            msg = str(exc)
            raise FastrnnError(msg if msg.startswith(f"{path}:") else f"{path}: {msg}") from None
        except (KeyError, ValueError, TypeError, OSError) as exc:
            why = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            raise FastrnnError(f"{path}: damaged checkpoint ({why})") from None


def _read_state(f: h5py.File, path: str) -> TrainState:
    config = TrainConfig.from_dict(json.loads(f.attrs["config"]))
    vocab = json.loads(f.attrs["vocab"])
    params = _arrays(f["params"], path, "params")
    K, m, _ = check_params(params, len(vocab))
    mem = _arrays(f["optimizer"], path, "optimizer")
    best = _arrays(f["best"], path, "best")
    for name, group in (("optimizer", mem), ("best", best)):
        for k in PARAM_NAMES:
            if group[k].shape != params[k].shape:
                raise FastrnnError(f"{path}: /{name}/{k} expected shape {params[k].shape}, "
                                   f"got {group[k].shape}")
    st, bst, hist, smp = f["state"], f["best"], f["history"], f["samples"]
    for name, h in (("state/hprev", st["hprev"]), ("best/hprev", bst["hprev"])):
        if h.shape != (m,):
            raise FastrnnError(f"{path}: /{name} expected shape {(m,)}, got {h.shape}")
    update = int(st.attrs["update"])
    loss, smooth = hist["loss"][()], hist["smooth_loss"][()]
    if loss.shape != (update,) or smooth.shape != (update,):
        raise FastrnnError(f"{path}: /history expected {update} losses, got {loss.shape[0]}")
    texts = [t.decode("utf-8") if isinstance(t, bytes) else str(t) for t in smp["text"][()]]
    samples = list(zip(smp["update"][()].tolist(), smp["smooth_loss"][()].tolist(), texts))
    val = list(zip(hist["val_update"][()].tolist(), hist["val_loss"][()].tolist()))
    rng_state = json.loads(st.attrs["rng_state"])
    try:
        np.random.default_rng().bit_generator.state = rng_state
    except (KeyError, ValueError, TypeError):
        raise FastrnnError(f"{path}: damaged checkpoint (/state rng_state is not a numpy "
                           "PCG64 state)") from None
    return TrainState(
        config=config, vocab=vocab, corpus_name=str(f.attrs["corpus_name"]),
        corpus_chars=int(f.attrs["corpus_chars"]), params=Params.from_course(params),
        mem=Params.from_course(mem), best=Params.from_course(best),
        best_hprev=bst["hprev"][()], best_x0=int(bst.attrs["x0"]),
        best_update=int(bst.attrs["update"]), best_smooth=float(bst.attrs["smooth_loss"]),
        update=update, epoch=int(st.attrs["epoch"]), chunk=int(st.attrs["chunk"]),
        hprev=st["hprev"][()], next_x0=int(st.attrs["next_x0"]),
        smooth_loss=float(st.attrs["smooth_loss"]),
        loss_history=loss.astype(np.float64), smooth_history=smooth.astype(np.float64),
        samples=samples, val_history=val, rng_state=rng_state,
        wall_time=float(st.attrs["wall_time"]))
