"""HDF5 checkpoints: save and load the whole training state, atomically, verified on load.

Layout (format "fastrnn-checkpoint", version 2; version 1 files still load):
    /            attrs: format, format_version, fastrnn_version, config (JSON), corpus_name
                 (JSON string), corpus_chars, vocab (JSON string of the characters), checksum
    /params      U W V b c      latest parameters
    /optimizer   U W V b c      AdaGrad accumulators G
    /best        U W V b c hprev; attrs update, smooth_loss, x0
    /state       hprev; attrs update, epoch, chunk, smooth_loss, wall_time, next_x0,
                 rng_state (JSON)
    /history     val_update, val_loss; attrs length (= updates), and either the datasets
                 loss, smooth_loss (one per update) or attrs file, crc: the companion file
    /samples     update, smooth_loss, text_json (the progress samples, a JSON list as bytes)

Atomic: the file is written under a temporary name in the same directory
(.NAME.HOST.PID.tmp), flushed to disk, and moved over the old one with os.replace, so a crash
or kill -9 at any moment leaves the last complete checkpoint; temp files of killed processes
are removed by the next save. A symlinked checkpoint is written through to its target, and a
replaced checkpoint keeps its permission bits.

Cost independent of the run's length: up to HISTORY_INLINE updates the per-update losses are
inside the file; beyond, they live in a companion file NAME.history (16 bytes a record, after
a header) that each save extends by the new records only, before the atomic replace. The
checkpoint records how many records are valid and their CRC-32, so a crash between the two
writes leaves a longer companion whose extra records are ignored, then overwritten. A
companion that cannot be extended (another run's, or one this process has not written) is
never rewritten in place, as the previous checkpoint may still need it: the new one is written
under a temp name and renamed just before the checkpoint, so a failed save (disk full) leaves
the previous pair whole.

Verified: every attribute and dataset is validated on load (types, ranges, shapes, indices
that reach a kernel), every HDF5 error becomes a one-line FastrnnError, and the checksum
attribute (CRC-32 over every dataset and attribute) reports a corrupted file instead of
training on it.

On disk the parameters have the course's shapes (U as (m, K)); in memory the training state
holds them in the kernels' layout (fastrnn.model.Params): _write and _read_state convert.
"""
from __future__ import annotations

import io
import json
import math
import os
import re
import socket
import stat
import zlib

import h5py
import numpy as np

from .config import TrainConfig
from .errors import FastrnnError
from .model import PARAM_NAMES, Params, check_params
from .runstate import TrainState, check_state, fixed_fields

FORMAT_NAME = "fastrnn-checkpoint"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)
HISTORY_INLINE = 1 << 16          # updates whose losses are kept inside the checkpoint
HISTORY_SUFFIX = ".history"
HISTORY_MAGIC = b"fastrnn-history1"   # 16 bytes: the companion file's header
_RECORD = 16                       # bytes per update in the companion: loss, smooth (<f8)
# (dev, inode, records, crc) of companion files this process wrote or verified, by path
_HISTORY_KNOWN: dict = {}


# ----------------------------------------------------------------------------- checksum
def _checksum(f: h5py.File) -> str:
    """CRC-32 of every dataset (name, type, shape, bytes) and every attribute (name, value)
    except the checksum itself, in name order."""
    crc = 0

    def add(data: bytes):
        nonlocal crc
        crc = zlib.crc32(data, crc)

    def attrs(name, obj):
        for key in sorted(obj.attrs):
            if name == "/" and key == "checksum":
                continue
            value = np.asarray(obj.attrs[key])
            add(f"{name}@{key}:{value.dtype.str}:{value.shape}".encode())
            add(value.tobytes() if value.dtype.kind != "O" else repr(value.tolist()).encode())

    names = []
    f.visit(names.append)
    attrs("/", f)
    for name in sorted(names):
        obj = f.get(name, getlink=False)
        attrs(name, obj)
        if isinstance(obj, h5py.Dataset):
            value = obj[()]
            add(f"{name}:{value.dtype.str}:{value.shape}".encode())
            add(np.ascontiguousarray(value).tobytes())
    return f"{crc:08x}"


# ------------------------------------------------------------------------------- history
def _history_path(real: str) -> str:
    return real + HISTORY_SUFFIX


def _records(state: TrainState, start: int, stop: int) -> bytes:
    rec = np.empty((stop - start, 2), "<f8")
    rec[:, 0] = state.loss_history[start:stop]
    rec[:, 1] = state.smooth_history[start:stop]
    return rec.tobytes()


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        done = os.pwrite(fd, view, offset)
        view, offset = view[done:], offset + done


def _write_history(real: str, state: TrainState, mode: int | None) -> tuple[int, str | None]:
    """Bring the companion file of `real` to the state's updates, appending only what is new
    when this process knows the file already holds this run's first records. Returns the
    CRC-32 of the records and, when the companion had to be written anew while one exists
    (another run's, or one this process has not written), the temp file holding it: save()
    moves it into place just before the checkpoint itself, as the previous checkpoint may
    still read the existing companion until then."""
    path, n = _history_path(real), state.update
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    pending = None
    try:
        st = os.fstat(fd)
        start, crc = 0, 0
        known = _HISTORY_KNOWN.get(real)
        if known and known[:2] == (st.st_dev, st.st_ino) and 0 < known[2] <= n \
                and st.st_size >= len(HISTORY_MAGIC) + _RECORD * known[2]:
            # the same run (first and last known records agree), not one overwritten since
            k = known[2]
            first = os.pread(fd, _RECORD, len(HISTORY_MAGIC))
            last = os.pread(fd, _RECORD, len(HISTORY_MAGIC) + _RECORD * (k - 1))
            if first == _records(state, 0, 1) and last == _records(state, k - 1, k):
                start, crc = k, known[3]
        if start == 0 and st.st_size > 0:
            os.close(fd)
            fd = -1
            pending = _temp_path(path)
            fd = os.open(pending, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o666)
            st = os.fstat(fd)
        if mode is not None:
            os.fchmod(fd, mode)
        if start == 0:
            _pwrite_all(fd, HISTORY_MAGIC, 0)
        data = _records(state, start, n)
        _pwrite_all(fd, data, len(HISTORY_MAGIC) + _RECORD * start)
        os.ftruncate(fd, len(HISTORY_MAGIC) + _RECORD * n)
        os.fsync(fd)
        crc = zlib.crc32(data, crc)
    except BaseException:
        if pending is not None:
            _unlink_quietly(pending)
        raise
    finally:
        if fd >= 0:
            os.close(fd)
    _HISTORY_KNOWN[real] = (st.st_dev, st.st_ino, n, crc)
    return crc, pending


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _read_history(real: str, name: str, length: int, crc: int, path: str):
    if os.path.basename(name) != name or not name:
        raise FastrnnError(f"damaged checkpoint (/history file {name!r} is not a file name)")
    named = os.path.join(os.path.dirname(real), name)
    own = _history_path(real)
    # the companion the checkpoint names, then its own name's: a pair renamed together
    # (final.h5 + final.h5.history) names the old one, which may be gone or another run's;
    # the checksum tells which is this checkpoint's
    candidates = [named] + ([own] if own != named and os.path.exists(own) else [])
    problem = None
    for hpath in candidates:
        shown = os.path.basename(hpath)
        try:
            with open(hpath, "rb") as fh:
                st = os.fstat(fh.fileno())
                head = fh.read(len(HISTORY_MAGIC))
                data = fh.read(_RECORD * length)
        except FileNotFoundError:
            problem = problem or FastrnnError(
                f"its loss history {name} is missing: a checkpoint of over {HISTORY_INLINE:,} "
                f"updates is two files, keep (or copy) them side by side "
                f"({os.path.basename(real)} beside {os.path.basename(own)} or {name})")
            continue
        except OSError as exc:
            problem = problem or FastrnnError(f"cannot read its loss history {shown}: "
                                              f"{exc.strerror or exc}")
            continue
        if head != HISTORY_MAGIC or len(data) != _RECORD * length:
            problem = problem or FastrnnError(f"damaged checkpoint (its loss history {shown} is "
                                              "truncated or not a fastrnn history)")
            continue
        if zlib.crc32(data) != crc:
            problem = problem or FastrnnError(f"damaged checkpoint (its loss history {shown} "
                                              "fails its checksum)")
            continue
        _HISTORY_KNOWN[real] = (st.st_dev, st.st_ino, length, crc)
        rec = np.frombuffer(data, "<f8").reshape(length, 2)
        return rec[:, 0].astype(np.float64), rec[:, 1].astype(np.float64)
    raise problem


# --------------------------------------------------------------------------------- write
def _write(f: h5py.File, state: TrainState, history_crc: int | None = None,
           history_file: str = "") -> None:
    from . import __version__

    f.attrs.update(format=FORMAT_NAME, format_version=FORMAT_VERSION,
                   fastrnn_version=__version__, config=json.dumps(state.config.as_dict()),
                   corpus_name=json.dumps(state.corpus_name), corpus_chars=state.corpus_chars,
                   vocab=json.dumps(state.vocab))
    if state.corpus_digest:
        f.attrs["corpus_digest"] = state.corpus_digest
    if state.json_field:
        f.attrs["json_field"] = state.json_field
    net = getattr(state, "net", None)
    if net is None:           # the DD2424 engine: U W V b c in the course's shapes
        groups = {"params": state.params.course(), "optimizer": state.mem.course(),
                  "best": state.best.course()}
    else:                     # the general engine: per-layer names (fastrnn.network.Layout)
        groups = {"params": net.named(), "best": net.named(net.best),
                  "optimizer/moment1": net.named(net.moments[0]),
                  "optimizer/moment2": net.named(net.moments[1])}
    for group, arrays in groups.items():
        grp = f.create_group(group)
        for k, v in arrays.items():
            grp.create_dataset(k, data=np.ascontiguousarray(v))
    best = f["best"]
    best.create_dataset("hprev", data=state.best_hprev)
    best.attrs.update(update=state.best_update, smooth_loss=state.best_smooth, x0=state.best_x0)
    st = f.create_group("state")
    st.create_dataset("hprev", data=state.hprev)
    if net is not None:       # every stream's cell state (width 0 without one), and stream
        st.create_dataset("cprev", data=state.run.c)       # 0's at the best update
        best.create_dataset("cprev", data=state.run.best_c)
    st.attrs.update(update=state.update, epoch=state.epoch, chunk=state.chunk,
                    smooth_loss=state.smooth_loss, wall_time=state.wall_time,
                    next_x0=state.next_x0,
                    rng_state=json.dumps(state.rng_state),
                    changes=json.dumps(state.changes))
    hist = f.create_group("history")
    hist.attrs["length"] = state.update
    if history_crc is None:
        hist.create_dataset("loss", data=state.loss_history[:state.update])
        hist.create_dataset("smooth_loss", data=state.smooth_history[:state.update])
    else:
        hist.attrs.update(file=history_file, crc=history_crc)
    val = np.array(state.val_history, np.float64).reshape(-1, 2)
    hist.create_dataset("val_update", data=val[:, 0].astype(np.int64))
    hist.create_dataset("val_loss", data=val[:, 1])
    smp = f.create_group("samples")
    smp.create_dataset("update", data=np.array([s[0] for s in state.samples], np.int64))
    smp.create_dataset("smooth_loss", data=np.array([s[1] for s in state.samples], np.float64))
    # JSON (ASCII, escaped): no character a sample can hold (NUL, a lone surrogate) breaks it
    texts = json.dumps([s[2] for s in state.samples]).encode("ascii")
    smp.create_dataset("text_json", data=np.frombuffer(texts, np.uint8))
    f.attrs["checksum"] = _checksum(f)


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


def target_path(path: str) -> str:
    """The file a save to `path` replaces: the target of a symlink (so the link survives and
    the target is updated), else the path itself."""
    return os.path.realpath(path) if os.path.islink(path) else os.path.abspath(path)


def save(state: TrainState, path: str) -> None:
    """Write the checkpoint atomically: a temp file in the same directory, flushed and fsynced,
    then os.replace over `path` (and the directory fsynced). A crash or kill -9 at any moment
    leaves either the previous checkpoint or the new one, never a mix; a failed write (disk
    full, no permission) raises FastrnnError and leaves the previous checkpoint untouched.
    A symlink is written through to its target; an existing file keeps its mode."""
    check_state(state, "save")
    real = target_path(path)
    directory = os.path.dirname(real)
    if not os.path.isdir(directory):
        raise FastrnnError(f"cannot write {path}: directory {directory} does not exist")
    try:
        mode = stat.S_IMODE(os.stat(real).st_mode)
    except OSError:
        mode = None
    tmp = _temp_path(real)
    history_tmp = None
    try:
        history_crc = None
        if state.update > HISTORY_INLINE:
            history_crc, history_tmp = _write_history(real, state, mode)
        # The HDF5 image is built in memory, then written with plain os.write calls: a write
        # that fails (disk full, file too large, permission) is then a clean OSError, never a
        # half-closed HDF5 handle (whose cleanup at exit prints tracebacks, can crash).
        buf = io.BytesIO()
        with h5py.File(buf, "w") as f:
            _write(f, state, history_crc, os.path.basename(_history_path(real)))
        image = buf.getbuffer()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        try:
            if mode is not None:
                os.fchmod(fd, mode)
            done = 0
            while done < len(image):
                done += os.write(fd, image[done:])
            os.fsync(fd)
        finally:
            os.close(fd)
        if history_tmp is not None:      # both files are written: the two renames follow
            os.replace(history_tmp, _history_path(real))
            history_tmp = None
        os.replace(tmp, real)
    except (OSError, RuntimeError) as exc:
        kept = "the previous checkpoint is unchanged" if os.path.exists(real) else \
            "nothing was written"
        raise FastrnnError(f"cannot write {path}: {_why(exc)}; {kept}") from None
    finally:
        for leftover in (tmp, history_tmp):
            if leftover is not None and os.path.exists(leftover):
                _unlink_quietly(leftover)
    if history_crc is None and mode is not None and os.path.exists(_history_path(real)):
        try:                  # a longer run's companion, which this checkpoint replaced
            # (only when a checkpoint was replaced: without one, the companion may be
            # another checkpoint's, renamed without it)
            os.unlink(_history_path(real))
            _HISTORY_KNOWN.pop(real, None)
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
    remove_stale_temps(real)
    remove_stale_temps(_history_path(real))


# ---------------------------------------------------------------------------------- read
def _open(path: str) -> h5py.File:
    if not os.path.exists(path):
        raise FastrnnError(f"no such checkpoint: {path}")
    if os.path.isdir(path):
        raise FastrnnError(f"{path} is a directory, not a checkpoint")
    try:
        f = h5py.File(path, "r")
    except Exception:          # OSError, and whatever a corrupted superblock makes HDF5 raise
        raise FastrnnError(f"{path} is not a readable HDF5 file (truncated or not HDF5)") from None
    try:
        fmt = f.attrs.get("format")
        version = f.attrs.get("format_version", -1)
    except Exception:
        f.close()
        raise FastrnnError(f"{path}: damaged checkpoint (unreadable attributes)") from None
    if not (isinstance(fmt, str) and fmt == FORMAT_NAME):   # an array compares elementwise
        f.close()
        raise FastrnnError(f"{path} is an HDF5 file but not a fastrnn checkpoint")
    if not (isinstance(version, (int, np.integer)) and not isinstance(version, bool)):
        f.close()
        raise FastrnnError(f"{path}: damaged checkpoint (format_version is {_shown(version)}, "
                           "not an integer)")
    version = int(version)
    if version not in READABLE_VERSIONS:
        f.close()
        raise FastrnnError(f"{path}: checkpoint format version expected "
                           f"{' or '.join(map(str, READABLE_VERSIONS))}, got {version}"
                           + (" (made by a newer fastrnn; upgrade)"
                              if version > FORMAT_VERSION else ""))
    return f


def _arrays(grp, path: str, where: str) -> dict:
    missing = [k for k in PARAM_NAMES if k not in grp]
    if missing:
        raise FastrnnError(f"{path}: /{where} is missing {', '.join(missing)}")
    return {k: _dataset(grp[k], f"/{where}/{k}") for k in PARAM_NAMES}


def _dataset(obj, where: str) -> np.ndarray:
    if not isinstance(obj, h5py.Dataset):
        raise FastrnnError(f"damaged checkpoint ({where} is not a dataset)")
    value = obj[()]
    if not isinstance(value, np.ndarray):
        value = np.asarray(value)
    return value


def load_state(path: str) -> TrainState:
    """The full training state of a checkpoint (for --resume and the reporting tools)."""
    with _open(path) as f:
        try:
            return _read_state(f, path)
        except FastrnnError as exc:       # a shape, range or type check: say which file
            msg = str(exc)
            raise FastrnnError(msg if msg.startswith(f"{path}:") else f"{path}: {msg}") from None
        except Exception as exc:     # every h5py/numpy error of a damaged file: one line
            why = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
            why = " ".join(str(why).split()) or type(exc).__name__
            raise FastrnnError(f"{path}: damaged checkpoint ({why})") from None


def _shown(value) -> str:
    """A stored value as a message shows it (numpy scalars and arrays as plain Python)."""
    if isinstance(value, (np.generic, np.ndarray)):
        value = value.tolist()
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _attr_int(obj, name: str, where: str, lo: int, hi: int | None = None) -> int:
    value = obj.attrs[name]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise FastrnnError(f"damaged checkpoint ({where} {name} is {_shown(value)}, not an "
                           "integer)")
    value = int(value)
    if value < lo or (hi is not None and value > hi):
        span = f"[{lo}, {hi}]" if hi is not None else f">= {lo}"
        raise FastrnnError(f"damaged checkpoint ({where} {name} = {value} is outside {span})")
    return value


def _attr_float(obj, name: str, where: str, allow=()) -> float:
    value = obj.attrs[name]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer,
                                                                     np.floating)):
        raise FastrnnError(f"damaged checkpoint ({where} {name} is {_shown(value)}, not a "
                           "number)")
    value = float(value)
    if not math.isfinite(value) and not any(
            (a == "nan" and math.isnan(value)) or (a == "inf" and value == math.inf)
            for a in allow):
        raise FastrnnError(f"damaged checkpoint ({where} {name} = {value} is not finite)")
    return value


def _attr_json(obj, name: str, where: str, kind: type):
    text = obj.attrs[name]
    if not isinstance(text, str):
        raise FastrnnError(f"damaged checkpoint ({where} {name} is not a JSON string)")
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise FastrnnError(f"damaged checkpoint ({exc})") from None
    if not isinstance(value, kind):
        names = {dict: "object", list: "array", str: "string"}
        raise FastrnnError(f"damaged checkpoint ({where.rstrip('/') + '/' if where != '/' else ''}"
                           f"{name} is a JSON {names.get(type(value), type(value).__name__)}, "
                           f"not an {names[kind]})" if kind is dict else
                           f"damaged checkpoint ({name} is a JSON "
                           f"{names.get(type(value), type(value).__name__)}, not a {names[kind]})")
    return value


def _float_array(value: np.ndarray, where: str, shape: tuple) -> np.ndarray:
    if value.dtype.kind != "f" or value.shape != shape:
        raise FastrnnError(f"damaged checkpoint ({where}: expected {shape} floats, got "
                           f"{value.shape} {value.dtype})")
    return value.astype(np.float64)


def _int_array(value: np.ndarray, where: str, n: int, lo: int, hi: int) -> np.ndarray:
    if value.dtype.kind not in "iu" or value.shape != (n,):
        raise FastrnnError(f"damaged checkpoint ({where}: expected {n} integers, got "
                           f"{value.shape} {value.dtype})")
    if n and (value.min() < lo or value.max() > hi):
        raise FastrnnError(f"damaged checkpoint ({where}: values outside [{lo}, {hi}])")
    return value.astype(np.int64)


def _read_config(f: h5py.File) -> TrainConfig:
    try:
        return TrainConfig.from_dict(_attr_json(f, "config", "/", dict))
    except FastrnnError as exc:
        msg = str(exc)
        raise FastrnnError(msg if msg.startswith("damaged") else
                           f"damaged checkpoint (config: {msg})") from None


def load_config(path: str) -> TrainConfig:
    """A checkpoint's config alone, without reading (or verifying) its arrays: for a caller
    that only compares hyper-parameters (a sweep's re-run); load_state verifies the rest."""
    with _open(path) as f:
        try:
            return _read_config(f)
        except FastrnnError as exc:
            raise FastrnnError(f"{path}: {exc}") from None
        except Exception as exc:     # an unreadable attribute of a damaged file
            raise FastrnnError(f"{path}: damaged checkpoint ({type(exc).__name__})") from None


def _read_state(f: h5py.File, path: str) -> TrainState:
    version = int(f.attrs["format_version"])
    root = "/"
    config = _read_config(f)
    vocab = _attr_json(f, "vocab", root, str)
    if len(vocab) < 2 or list(vocab) != sorted(set(vocab)):
        raise FastrnnError("damaged checkpoint (vocab is not a sorted set of at least 2 "
                           "characters)")
    from .nettrain import uses_network

    K = len(vocab)
    st, bst, hist, smp = f["state"], f["best"], f["history"], f["samples"]
    if uses_network(config):
        net, run = _read_network(f, config, K)
    else:
        params = _arrays(f["params"], path, "params")
        K, m, dtype = check_params(params, len(vocab))
        if dtype != np.dtype(config.dtype):
            raise FastrnnError(f"damaged checkpoint (parameters are {dtype}, the config says "
                               f"{config.dtype})")
        mem = _arrays(f["optimizer"], path, "optimizer")
        best = _arrays(f["best"], path, "best")
        for name, group in (("params", params), ("optimizer", mem), ("best", best)):
            for k in PARAM_NAMES:
                if group[k].shape != params[k].shape or group[k].dtype != dtype:
                    raise FastrnnError(f"{path}: /{name}/{k} expected shape {params[k].shape} "
                                       f"{dtype}, got {group[k].shape} {group[k].dtype}")
        # non-finite values are not refused here: they index nothing, and training reports
        # them as divergence (sampling stays in range whatever the probabilities)
        hprevs = {}
        for name, h in (("state/hprev", st["hprev"]), ("best/hprev", bst["hprev"])):
            h = _dataset(h, f"/{name}")
            if h.shape != (m,) or h.dtype != dtype:
                raise FastrnnError(f"{path}: /{name} expected shape {(m,)}, got {h.shape}")
            hprevs[name] = h
    update = _attr_int(st, "update", "/state", 0)
    epoch = _attr_int(st, "epoch", "/state", 0)
    chunk = _attr_int(st, "chunk", "/state", 0)
    next_x0 = _attr_int(st, "next_x0", "/state", 0, K - 1)      # indexes U: checked, always
    best_x0 = _attr_int(bst, "x0", "/best", 0, K - 1)
    best_update = _attr_int(bst, "update", "/best", -1, max(update - 1, -1))
    corpus_chars = _attr_int(f, "corpus_chars", root, 2)
    smooth_loss = _attr_float(st, "smooth_loss", "/state", ("nan",) if update == 0 else ())
    best_smooth = _attr_float(bst, "smooth_loss", "/best", ("inf",) if best_update < 0 else ())
    wall_time = _attr_float(st, "wall_time", "/state")
    if version >= 2:
        corpus_name = _attr_json(f, "corpus_name", root, str)
    else:
        corpus_name = f.attrs["corpus_name"]
        if not isinstance(corpus_name, str):
            raise FastrnnError("damaged checkpoint (corpus_name is not a string)")
    if "loss" in hist or version < 2:
        loss = _dataset(hist["loss"], "/history/loss")
        smooth = _dataset(hist["smooth_loss"], "/history/smooth_loss")
        if loss.shape != (update,) or smooth.shape != (update,):
            raise FastrnnError(f"{path}: /history expected {update} losses, got "
                               f"{loss.shape[0] if loss.ndim else 0}")
        loss = _float_array(loss, "/history/loss", (update,))
        smooth = _float_array(smooth, "/history/smooth_loss", (update,))
    else:
        if _attr_int(hist, "length", "/history", update, update) != update:
            raise FastrnnError("damaged checkpoint (/history length)")
        name = hist.attrs["file"]
        if not isinstance(name, str):
            raise FastrnnError("damaged checkpoint (/history file is not a string)")
        crc = _attr_int(hist, "crc", "/history", 0, 2**32 - 1)
        loss, smooth = _read_history(target_path(path), name, update, crc, path)
    if version >= 2:
        texts = _json_texts(_dataset(smp["text_json"], "/samples/text_json"))
    else:
        texts = [t.decode("utf-8") if isinstance(t, bytes) else str(t)
                 for t in _dataset(smp["text"], "/samples/text")]
    n = len(texts)
    sample_updates = _int_array(_dataset(smp["update"], "/samples/update"), "/samples/update",
                                n, 0, update)
    sample_smooth = _float_array(_dataset(smp["smooth_loss"], "/samples/smooth_loss"),
                                 "/samples/smooth_loss", (n,))
    samples = list(zip(sample_updates.tolist(), sample_smooth.tolist(), texts))
    val_loss = _dataset(hist["val_loss"], "/history/val_loss")
    nv = val_loss.shape[0] if val_loss.ndim == 1 else -1
    val_loss = _float_array(val_loss, "/history/val_loss", (max(nv, 0),))
    val_update = _int_array(_dataset(hist["val_update"], "/history/val_update"),
                            "/history/val_update", val_loss.size, 0, update)
    val = list(zip(val_update.tolist(), val_loss.tolist()))
    rng_state = _attr_json(st, "rng_state", "/state", dict)
    try:
        np.random.default_rng().bit_generator.state = rng_state
    except (KeyError, ValueError, TypeError, OverflowError):
        raise FastrnnError(f"{path}: damaged checkpoint (/state rng_state is not a numpy "
                           "PCG64 state)") from None
    if version >= 2:
        stored = f.attrs["checksum"]
        if not isinstance(stored, str) or stored != _checksum(f):
            raise FastrnnError("damaged checkpoint (its checksum does not match its contents: "
                               "the file was corrupted or edited)")
    changes = _attr_json(st, "changes", "/state", list) if "changes" in st.attrs else []
    if not all(isinstance(c, list) and len(c) == 4 and isinstance(c[1], str) for c in changes):
        raise FastrnnError("damaged checkpoint (/state changes is not a list of "
                           "[update, option, old, new])")
    changes = [tuple(c) for c in changes]
    digest = f.attrs.get("corpus_digest", "")       # absent before fastrnn 0.2's digest
    if not isinstance(digest, str) or (digest and not re.fullmatch(r"[0-9a-f]{64}", digest)):
        raise FastrnnError("damaged checkpoint (corpus_digest is not a SHA-256 hex digest)")
    json_field = f.attrs.get("json_field", "")     # absent: plain text, or written before it
    if not isinstance(json_field, str):
        raise FastrnnError("damaged checkpoint (json_field is not a string)")
    common = dict(config=config, vocab=vocab, corpus_name=corpus_name,
                  corpus_chars=corpus_chars, best_x0=best_x0, best_update=best_update,
                  best_smooth=best_smooth, update=update, epoch=epoch, chunk=chunk,
                  next_x0=next_x0, smooth_loss=smooth_loss, loss_history=loss,
                  smooth_history=smooth, samples=samples, val_history=val,
                  rng_state=rng_state, wall_time=wall_time, changes=changes,
                  corpus_digest=digest, json_field=json_field,
                  fixed=fixed_fields(config))
    if uses_network(config):
        from .nettrain import NetState, _state_to_counters, attach

        state = attach(NetState(params=None, mem=None, best=None, best_hprev=None, **common),
                       net, run)
        _state_to_counters(state)
        return state
    return TrainState(
        changes=changes, corpus_digest=digest, json_field=json_field,
        fixed=fixed_fields(config), config=config, vocab=vocab, corpus_name=corpus_name,
        corpus_chars=corpus_chars, params=Params.from_course(params),
        mem=Params.from_course(mem), best=Params.from_course(best),
        best_hprev=hprevs["best/hprev"], best_x0=best_x0,
        best_update=best_update, best_smooth=best_smooth,
        update=update, epoch=epoch, chunk=chunk,
        hprev=hprevs["state/hprev"], next_x0=next_x0,
        smooth_loss=smooth_loss,
        loss_history=loss, smooth_history=smooth,
        samples=samples, val_history=val, rng_state=rng_state,
        wall_time=wall_time)


def _like(obj, where: str, like: np.ndarray) -> np.ndarray:
    """The dataset `obj`, checked to have the shape and dtype of `like`."""
    v = _dataset(obj, where)
    if v.shape != like.shape or v.dtype != like.dtype:
        raise FastrnnError(f"damaged checkpoint ({where} expected shape {like.shape} "
                           f"{like.dtype}, got {v.shape} {v.dtype})")
    return v


def _read_network(f: h5py.File, config: TrainConfig, K: int):
    """The general engine's Network and Run from /params, /best, /optimizer/moment1|2 and the
    state datasets, every name and shape checked against the config's architecture."""
    from .nettrain import PROGRESS_EVERY, make_network

    net = make_network(config, K)
    for group, flat in (("params", net.theta), ("best", net.best),
                        ("optimizer/moment1", net.moments[0]),
                        ("optimizer/moment2", net.moments[1])):
        if group not in f or not isinstance(f[group], h5py.Group):
            raise FastrnnError(f"damaged checkpoint (/{group} is missing)")
        grp = f[group]
        values = {}
        for name, view in net.named(flat).items():
            if name not in grp:
                raise FastrnnError(f"damaged checkpoint (/{group}/{name} is missing)")
            values[name] = _like(grp[name], f"/{group}/{name}", view)
        net.set_named(values, flat)
    run = net.new_run(streams=config.batch, capacity=PROGRESS_EVERY)
    for where, arr in (("state/hprev", run.h), ("state/cprev", run.c),
                       ("best/hprev", run.best_h), ("best/cprev", run.best_c)):
        if where not in f:
            raise FastrnnError(f"damaged checkpoint (/{where} is missing)")
        arr[...] = _like(f[where], f"/{where}", arr)
    return net, run


def _json_texts(raw: np.ndarray) -> list:
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise FastrnnError("damaged checkpoint (/samples/text_json is not bytes)")
    try:
        texts = json.loads(raw.tobytes().decode("ascii"))
    except (ValueError, RecursionError):
        raise FastrnnError("damaged checkpoint (/samples/text_json is not JSON)") from None
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        raise FastrnnError("damaged checkpoint (/samples/text_json is not a list of strings)")
    return texts
