"""Safe writes: the one atomic-write helper every command uses, and the checks on output paths.

Every file and folder the program writes is first filled under a hidden partial name beside its
target (``.partial-<name>-<token>-<pid>`` for folders, ``.<name>.<token>-<pid>.partial`` for files), flushed to
disk, then renamed into place without replacing anything that appeared meanwhile. An existing
target is replaced only when the caller asks (``--force``) and only when it is of the program's own
kind; nothing the program did not create is ever removed or renamed. Partial leftovers of killed
processes are removed by the next write in the same folder.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import re
import secrets
import shutil
import stat
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

#: A file inside every partial folder: only folders holding it are ever cleaned up as leftovers.
PARTIAL_MARKER = ".deploysim-partial"
PARTIAL_FOLDER_PREFIX = ".partial-"
PARTIAL_FILE_SUFFIX = ".partial"
#: Leftovers older than this are removed even if their process id is in use again.
STALE_AFTER_S = 24 * 3600
#: Longest file or folder name this program makes, in bytes (file systems allow 255).
MAX_NAME_BYTES = 160

#: Errors where the machine refuses (exit code 1), as opposed to a bad path the user gave (exit 2).
MACHINE_ERRNOS = frozenset(
    getattr(errno, name)
    for name in ("ENOSPC", "EDQUOT", "EROFS", "EACCES", "EPERM", "EIO", "EFBIG", "EMFILE", "ENFILE", "ENOMEM",
                 "EBUSY", "ETXTBSY", "EAGAIN", "EXDEV")
    if hasattr(errno, name)
)


class PathError(Exception):
    """A path that cannot be used as asked (exists, not the program's own, a bad name): the user's to fix."""


def check_name(name: str, what: str) -> str:
    """Return ``name`` if it can name one folder or file; raise a PathError otherwise.

    A name is refused if it is empty, ``.`` or ``..``, starts with a dot (hidden names are the
    program's partial folders), holds a path separator, a NUL or another control character, or is
    longer than :data:`MAX_NAME_BYTES` bytes.
    """
    shown = short(name, 60)
    if not name or name in (".", ".."):
        raise PathError(f"{what} '{shown}' cannot name a folder; use letters, digits, '-', '_' or '.'")
    if "/" in name or "\\" in name or (os.altsep and os.altsep in name):
        raise PathError(f"{what} '{shown}' holds a path separator; give a plain name, not a path")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise PathError(f"{what} '{shown}' holds a control character")
    if name.startswith("."):
        raise PathError(f"{what} '{shown}' starts with '.'; hidden names are kept for partial output")
    if len(name.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES:
        raise PathError(f"{what} '{shown}' is longer than {MAX_NAME_BYTES} bytes")
    return name


def check_path_text(path: str | Path, what: str) -> Path:
    """Refuse a path holding a NUL byte or a component longer than the file system allows."""
    text = os.fspath(path)
    if "\0" in text:
        raise PathError(f"{what} holds a NUL byte")
    for part in Path(text).parts:
        if len(part.encode("utf-8", "surrogateescape")) > 255:
            raise PathError(f"{what}: the name '{short(part, 40)}' is longer than 255 bytes")
    return Path(text)


def check_inside(path: Path, root: Path, what: str) -> Path:
    """Return ``path`` if, once resolved, it lies inside ``root``; raise a PathError otherwise."""
    try:
        resolved, base = path.resolve(), root.resolve()
    except (OSError, RuntimeError) as exc:
        raise PathError(f"{what} {short(str(path))}: cannot resolve it ({exc})") from None
    if resolved != base and base not in resolved.parents:
        raise PathError(f"{what} {short(str(path))} lies outside {short(str(root))}")
    return path


def short(text: str, limit: int = 200) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis, for messages."""
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe(path: Path) -> str:
    """What is at ``path``, in words: 'a file', 'a folder holding 3 entries', 'a device'..."""
    try:
        st = path.lstat()
    except OSError:
        return "nothing"
    mode = st.st_mode
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISREG(mode):
        return "a file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        try:
            names = sorted(os.listdir(path))
        except OSError:
            return "a folder that cannot be listed"
        if not names:
            return "an empty folder"
        return f"a folder holding {len(names)} entr{'y' if len(names) == 1 else 'ies'} (e.g. {short(names[0], 40)})"
    return "something that is not a file or folder"


def is_regular_file(path: Path) -> bool:
    """Whether ``path`` is a regular file itself (not a link to one, not a device)."""
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


def is_real_folder(path: Path) -> bool:
    """Whether ``path`` is a folder itself (not a link to one)."""
    try:
        return stat.S_ISDIR(path.lstat().st_mode)
    except OSError:
        return False


# -- renames that never replace -------------------------------------------------------------------

_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
_RENAME_EXCHANGE = 2


def _renameat2(src: Path, dst: Path, flags: int) -> bool:
    """``renameat2`` where the C library has it; False where it or the file system does not."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        func = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    if func(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), flags) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, getattr(errno, "EOPNOTSUPP", errno.ENOTSUP)):
        return False
    raise OSError(code, os.strerror(code), str(dst))


def rename_noreplace(src: Path, dst: Path) -> None:
    """Rename ``src`` to ``dst``; raise FileExistsError if ``dst`` exists (even if created meanwhile)."""
    if _renameat2(src, dst, _RENAME_NOREPLACE):
        return
    if src.is_dir() and not src.is_symlink():
        # Without renameat2: claim the name with an exclusive mkdir, then rename over the empty claim.
        os.mkdir(dst)
        try:
            os.rename(src, dst)
        except BaseException:
            with contextlib.suppress(OSError):
                os.rmdir(dst)
            raise
    else:
        os.link(src, dst)
        os.unlink(src)


def exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically; False where the system cannot (the caller then moves them in turn)."""
    return _renameat2(a, b, _RENAME_EXCHANGE)


# -- flushing --------------------------------------------------------------------------------------


def fsync_file(path: Path) -> None:
    """Flush a file's data to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries (new names, renames) to disk; a no-op where folders cannot be opened."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def fsync_tree(folder: Path) -> None:
    """Flush every file and folder under ``folder`` (the folder itself last)."""
    for here, dirs, files in os.walk(folder):
        for name in files:
            fsync_file(Path(here) / name)
        for name in dirs:
            fsync_dir(Path(here) / name)
    fsync_dir(folder)


# -- folders the program creates --------------------------------------------------------------------


def make_parents(folder: Path) -> list[Path]:
    """Create ``folder`` and any missing parents; return those created, outermost first.

    Raises:
        PathError: If some part of the path exists but is not a folder.
    """
    missing: list[Path] = []
    here = folder
    while not here.exists():
        if here.is_symlink():
            raise PathError(f"{short(str(here))} is a broken symbolic link")
        missing.append(here)
        if here.parent == here:
            break
        here = here.parent
    if here.exists() and not here.is_dir():
        raise PathError(f"{short(str(here))} is {describe(here)}, not a folder")
    created: list[Path] = []
    try:
        for path in reversed(missing):
            try:
                path.mkdir()
            except FileExistsError:
                continue
            created.append(path)
    except BaseException:
        remove_empty(created)
        raise
    return created


def remove_empty(folders: list[Path]) -> None:
    """Remove folders this program created, innermost first, if they are still empty."""
    for path in reversed(folders):
        with contextlib.suppress(OSError):
            path.rmdir()


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True
    return True


#: The names this module gives partial folders and files; nothing else is ever cleaned up.
_PARTIAL_FOLDER = re.compile(r"^\.partial-.+-(?:old)?[0-9a-f]{8}-(\d{1,9})$")
_PARTIAL_FILE = re.compile(r"^\..+\.[0-9a-f]{8}-(\d{1,9})\.partial$")


def _partial_pid(name: str) -> int | None:
    """The process id in a partial name (``.partial-<name>-<token>-<pid>`` or ``.<name>.<token>-<pid>.partial``)."""
    match = _PARTIAL_FOLDER.match(name) or _PARTIAL_FILE.match(name)
    return int(match.group(1)) if match else None


def clean_stale(parent: Path, notify: Callable[[str], None] | None = None) -> list[Path]:
    """Remove partial leftovers in ``parent`` whose process is gone or which are over a day old.

    Only entries with the program's partial names are considered; a partial folder must also hold
    :data:`PARTIAL_MARKER`, so a user's folder that merely looks alike is never touched. Each
    removal is reported through ``notify`` (default: a line on stderr).

    Returns:
        The paths removed.
    """
    notify = notify or (lambda line: print(line, file=sys.stderr))
    removed: list[Path] = []
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        pid = _partial_pid(entry.name)
        if pid is None or pid == os.getpid():
            continue
        path = Path(entry.path)
        try:
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                if not (path / PARTIAL_MARKER).is_file():
                    continue
            elif not stat.S_ISREG(st.st_mode):
                continue
            if _pid_alive(pid) and now - st.st_mtime < STALE_AFTER_S:
                continue
            if stat.S_ISDIR(st.st_mode):
                shutil.rmtree(path)
            else:
                path.unlink()
        except OSError:
            continue
        removed.append(path)
        notify(f"deploysim: removed {short(str(path))}, left by an interrupted run (process {pid})")
    return removed


def new_partial_folder(parent: Path, name: str) -> Path:
    """Create an empty, marked partial folder for ``parent/name`` and return it."""
    # The token keeps two writers in one process (threads) apart; the pid tells a later run whose it was.
    partial = parent / f"{PARTIAL_FOLDER_PREFIX}{name}-{secrets.token_hex(4)}-{os.getpid()}"
    if partial.exists():
        # Our own process's leftover (an earlier failed write of the same name): ours to remove.
        if (partial / PARTIAL_MARKER).is_file():
            shutil.rmtree(partial)
        else:
            raise PathError(f"{short(str(partial))} exists and is not a partial folder of this program")
    partial.mkdir()
    (partial / PARTIAL_MARKER).touch()
    return partial


def replace_folder(
    folder: Path,
    write: Callable[[Path], None],
    force: bool = False,
    is_ours: Callable[[Path], bool] | None = None,
    kind: str = "folder",
) -> Path:
    """Write a folder atomically; the one helper every folder writer uses.

    ``write`` fills an empty partial folder beside ``folder``; once it returns the files are flushed
    and the partial folder is renamed to ``folder``, never replacing a folder that appeared
    meanwhile. With ``force``, an existing ``folder`` is replaced only if ``is_ours`` says it is of
    the program's own kind (the old one is swapped out atomically, then removed). On any error or
    interrupt the partial folder, and any parent folder created for it, is removed.

    Args:
        folder: The final folder.
        write: Fills the folder it is given.
        force: Replace an existing folder of the program's own kind.
        is_ours: Whether an existing folder may be replaced (default: never).
        kind: What the folder is, for messages ('run folder', 'output folder').

    Returns:
        ``folder``.

    Raises:
        PathError: If ``folder`` exists and may not be replaced, or was created meanwhile.
    """
    folder = Path(folder)
    check_replaceable(folder, force, is_ours, kind)
    created = make_parents(folder.parent)
    partial: Path | None = None
    try:
        clean_stale(folder.parent)
        partial = new_partial_folder(folder.parent, folder.name)
        write(partial)
        fsync_tree(partial)
        if force and folder.exists():
            _swap_in(partial, folder, is_ours, kind)
        else:
            try:
                rename_noreplace(partial, folder)
            except (FileExistsError, OSError) as exc:
                if isinstance(exc, FileExistsError) or exc.errno in (errno.EEXIST, errno.ENOTEMPTY):
                    raise PathError(f"{short(str(folder))} was created meanwhile by another process; it was left "
                                    "as it is and this result was not kept") from None
                raise
        partial = None
        # The marker goes only once the folder has its final name: until then a kill leaves a partial
        # folder the next run recognises and removes.
        (folder / PARTIAL_MARKER).unlink(missing_ok=True)
        fsync_dir(folder.parent)
    except BaseException:
        if partial is not None:
            shutil.rmtree(partial, ignore_errors=True)
        remove_empty(created)
        raise
    return folder


def check_replaceable(
    folder: Path, force: bool, is_ours: Callable[[Path], bool] | None = None, kind: str = "folder"
) -> None:
    """Raise a PathError unless ``folder`` is free, or exists, is ours and ``force`` is given."""
    try:
        exists = folder.is_symlink() or folder.exists()
    except OSError as exc:
        raise PathError(f"{short(str(folder))}: {exc.strerror}") from None
    if not exists:
        return
    if not force:
        raise PathError(f"{short(str(folder))} already exists; pass --force to replace it")
    if not is_real_folder(folder) or is_ours is None or not is_ours(folder):
        raise PathError(f"{short(str(folder))} is {describe(folder)}, not a {kind} written by deploysim; "
                        "refusing to replace it (choose another --out)")


def _swap_in(partial: Path, folder: Path, is_ours: Callable[[Path], bool] | None, kind: str) -> None:
    check_replaceable(folder, True, is_ours, kind)
    # Marked first: if the process dies between the swap and the removal, the next run removes it.
    (folder / PARTIAL_MARKER).touch()
    if exchange(partial, folder):
        old = partial
    else:
        old = folder.parent / f"{PARTIAL_FOLDER_PREFIX}{folder.name}-old{secrets.token_hex(4)}-{os.getpid()}"
        os.rename(folder, old)
        try:
            rename_noreplace(partial, folder)
        except BaseException:
            with contextlib.suppress(OSError):
                os.rename(old, folder)
                (folder / PARTIAL_MARKER).unlink()
            raise
    fsync_dir(folder.parent)
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_file(
    path: Path, force: bool = False, is_ours: Callable[[Path], bool] | None = None, kind: str = "file"
) -> Iterator[Path]:
    """Write one file atomically: yields a partial path beside ``path`` to fill, then renames it into place.

    An existing ``path`` is replaced only with ``force`` and only if it is a regular file that
    ``is_ours`` accepts (default: any regular file). Parent folders are created as needed and
    removed again if the write fails.

    Raises:
        PathError: If ``path`` exists and may not be replaced, or appeared meanwhile.
    """
    path = Path(path)
    check_path_text(path, kind)
    accept = is_ours or (lambda _: True)

    def check() -> None:
        if path.is_symlink() or path.exists():
            if not force:
                raise PathError(f"{short(str(path))} already exists; pass --force to replace it")
            if not is_regular_file(path) or not accept(path):
                raise PathError(f"{short(str(path))} is {describe(path)}, not a {kind} written by deploysim; "
                                "refusing to replace it")

    check()
    created = make_parents(path.parent)
    partial = path.with_name(f".{path.name}.{secrets.token_hex(4)}-{os.getpid()}{PARTIAL_FILE_SUFFIX}")
    try:
        clean_stale(path.parent)
        partial.unlink(missing_ok=True)
        yield partial
        if not is_regular_file(partial):
            raise OSError(errno.EIO, "nothing was written", str(partial))
        fsync_file(partial)
        if force and path.exists():
            check()
            os.replace(partial, path)
        else:
            try:
                rename_noreplace(partial, path)
            except FileExistsError:
                raise PathError(f"{short(str(path))} was created meanwhile by another process; "
                                "it was left as it is") from None
        fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        remove_empty(created)
        raise


def write_text(path: Path, text: str, force: bool = False, is_ours: Callable[[Path], bool] | None = None,
               kind: str = "file") -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_file`); returns ``path``."""
    with atomic_file(path, force, is_ours, kind) as partial:
        with open(partial, "x", encoding="utf-8") as stream:
            stream.write(text)
        os.chmod(partial, 0o644)
    return Path(path)


# -- errors the machine raises ------------------------------------------------------------------------


def is_machine_error(exc: OSError) -> bool:
    """Whether an OSError is the machine refusing (disk full, read-only, permission): exit code 1."""
    return exc.errno in MACHINE_ERRNOS or exc.errno is None


def os_error_line(exc: OSError) -> str:
    """One line for an OSError: the file, what went wrong and, where it helps, what to do."""
    name = exc.filename if exc.filename is not None else ""
    reason = exc.strerror or str(exc) or type(exc).__name__
    hints = {
        errno.ENOSPC: "free some space or write elsewhere",
        errno.EROFS: "write to another folder",
        errno.EACCES: "check the folder's permissions or write elsewhere",
        errno.EPERM: "check the folder's permissions or write elsewhere",
        errno.EFBIG: "the file is larger than allowed; free space or raise the limit",
        errno.ENAMETOOLONG: "use a shorter name",
    }
    hint = hints.get(exc.errno) if exc.errno is not None else None
    where = f"{short(os.fsdecode(name))}: " if name else ""
    return f"{where}{short(reason, 200)}" + (f"; {hint}" if hint else "")
