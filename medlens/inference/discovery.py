"""Finding plugins: built-in folder, MEDLENS_PLUGIN_PATH, the user folder, entry points, adapters.

Discovery reads manifests only; it imports no model code and loads no weights, so start-up stays
fast however many plugins are installed. Every failure is caught and recorded on a
:class:`PluginEntry` (``error``), so one broken plugin is listed with its reason and never hides
the others. Loading (sha256 check, opening the runtime session) happens in
:meth:`PluginRegistry.open_session`, and a failure there marks the entry broken too.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import medlens
from medlens.inference.errors import InferenceError
from medlens.inference.manifest import Manifest, load_manifest
from medlens.inference.runtimes import DevicePreference, Session, get_runtime
from medlens.inference.weights import verify_weights

ENTRY_POINT_GROUP = "medlens.plugins"
ENV_VAR = "MEDLENS_PLUGIN_PATH"


@dataclass
class PluginEntry:
    """One discovered plugin: its manifest, or the reason it cannot be used."""

    id: str
    source: str  # "built-in", "MEDLENS_PLUGIN_PATH", "user", "entry point <name>", "adapter"
    path: Path | None
    manifest: Manifest | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.manifest is not None and self.error is None


def builtin_plugin_dir() -> Path:
    """The repository's ``plugins/`` folder, found relative to the package (works from a checkout).

    In a frozen build (PyInstaller) they are the bundle's ``medlens_data/plugins`` instead.
    """
    from medlens.sample import bundle_data_dir

    bundled = bundle_data_dir()
    if bundled is not None:
        return bundled / "plugins"
    return Path(medlens.__file__).resolve().parents[1] / "plugins"


def user_plugin_dir() -> Path:
    """Where users drop their own plugin folders."""
    import platformdirs

    return Path(platformdirs.user_data_dir("medlens")) / "plugins"


def env_plugin_dirs() -> list[Path]:
    """Extra folders from ``MEDLENS_PLUGIN_PATH`` (os.pathsep separated)."""
    value = os.environ.get(ENV_VAR, "")
    return [Path(p).expanduser() for p in value.split(os.pathsep) if p.strip()]


def _plugin_folders(root: Path) -> Iterator[Path]:
    """``root`` itself if it is a plugin, else its sub-folders holding a ``plugin.toml``."""
    if (root / "plugin.toml").is_file():
        yield root
        return
    if root.is_dir():
        for child in sorted(root.iterdir()):
            if child.is_dir() and (child / "plugin.toml").is_file():
                yield child


def _entry_from_folder(folder: Path, source: str) -> PluginEntry:
    try:
        manifest = load_manifest(folder / "plugin.toml")
    except InferenceError as exc:
        return PluginEntry(folder.name, source, folder, None, str(exc))
    except Exception as exc:  # never let one plugin stop discovery
        return PluginEntry(folder.name, source, folder, None, f"{folder}: {type(exc).__name__}: {exc}")
    return PluginEntry(manifest.id, source, folder, manifest)


def _entry_point_entries() -> Iterator[PluginEntry]:
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        source = f"entry point {ep.name}"
        try:
            target = ep.load()
            folder = Path(target() if callable(target) else target)
        except Exception as exc:
            yield PluginEntry(ep.name, source, None, None, f"entry point {ep.value} failed: {exc}")
            continue
        folders = list(_plugin_folders(folder))
        if not folders:
            yield PluginEntry(ep.name, source, folder, None, f"{folder} holds no plugin.toml")
        for f in folders:
            yield _entry_from_folder(f, source)


def discover(
    extra_dirs: Iterable[Path | str] = (),
    *,
    builtin: bool = True,
    user: bool = True,
    entry_points: bool = True,
    adapters: bool = True,
) -> list[PluginEntry]:
    """Every plugin MedLens can see, usable or not, in precedence order.

    When two plugins share an id the first one wins and the later one is listed as broken with the
    reason, so a user copy never silently shadows (or is shadowed by) another.
    """
    entries: list[PluginEntry] = []
    roots: list[tuple[Path, str]] = [(Path(d), "extra") for d in extra_dirs]
    if builtin:
        roots.append((builtin_plugin_dir(), "built-in"))
    roots += [(d, ENV_VAR) for d in env_plugin_dirs()]
    if user:
        roots.append((user_plugin_dir(), "user"))
    for root, source in roots:
        try:
            entries += [_entry_from_folder(f, source) for f in _plugin_folders(root)]
        except OSError as exc:
            entries.append(PluginEntry(root.name, source, root, None, f"cannot read {root}: {exc}"))
    if entry_points:
        entries += list(_entry_point_entries())
    if adapters:
        from medlens.inference.adapters import adapter_entries

        entries += adapter_entries()
    seen: dict[str, PluginEntry] = {}
    for entry in entries:
        if entry.ok and entry.id in seen:
            first = seen[entry.id]
            entry.error = (
                f"duplicate plugin id {entry.id!r}; already provided by {first.path or first.source}"
            )
        elif entry.ok:
            seen[entry.id] = entry
    return entries


class PluginRegistry:
    """The discovered plugins plus their opened sessions (cached: opening a model is slow)."""

    def __init__(self, entries: list[PluginEntry]) -> None:
        self.entries = entries
        self._sessions: dict[tuple[str, str, DevicePreference], Session] = {}
        self._lock = threading.Lock()

    @classmethod
    def discover(cls, extra_dirs: Iterable[Path | str] = (), **kwargs: bool) -> PluginRegistry:
        return cls(discover(extra_dirs, **kwargs))

    def usable(self) -> list[PluginEntry]:
        return [e for e in self.entries if e.ok]

    def get(self, plugin_id: str) -> PluginEntry:
        """The usable plugin ``plugin_id``; a readable error when it is unknown or broken."""
        for entry in self.entries:
            if entry.id == plugin_id and entry.ok:
                return entry
        broken = [e for e in self.entries if e.id == plugin_id]
        if broken:
            raise InferenceError(f"plugin {plugin_id} cannot be used: {broken[0].error}")
        names = ", ".join(sorted(e.id for e in self.usable())) or "none"
        raise InferenceError(f"no plugin called {plugin_id!r} (available: {names})")

    def manifest(self, plugin_id: str) -> Manifest:
        manifest = self.get(plugin_id).manifest
        assert manifest is not None
        return manifest

    def open_session(
        self, plugin_id: str, weights_key: str | None = None, device: DevicePreference = "auto"
    ) -> Session:
        """Verify the weights' sha256 and open them with the plugin's runtime (cached).

        ``weights_key`` names one of ``extra_weights`` (multi-model plugins); None is the main model.
        A failure marks the plugin broken (listed with the reason) and is raised as an
        :class:`InferenceError`.
        """
        entry = self.get(plugin_id)
        manifest = entry.manifest
        assert manifest is not None
        key = (plugin_id, weights_key or "", device)
        with self._lock:
            if key in self._sessions:
                return self._sessions[key]
            spec = manifest.weights if weights_key is None else manifest.extra_weights[weights_key]
            path = manifest.path(spec.file)
            try:
                verify_weights(path, spec.sha256, plugin_id)
                session = get_runtime(manifest.runtime).open(path, device)
            except InferenceError as exc:
                entry.error = str(exc)
                raise
            except Exception as exc:  # a runtime's own exception type: still a broken plugin, not a crash
                entry.error = f"plugin {plugin_id} failed to load: {type(exc).__name__}: {exc}"
                raise InferenceError(entry.error) from exc
            self._sessions[key] = session
            return session

    def drop_sessions(self, plugin_id: str | None = None) -> None:
        """Forget cached sessions (all, or one plugin's), e.g. to free GPU memory."""
        with self._lock:
            for key in [k for k in self._sessions if plugin_id is None or k[0] == plugin_id]:
                del self._sessions[key]


_default: PluginRegistry | None = None


def default_registry(refresh: bool = False) -> PluginRegistry:
    """The process-wide registry the app and command line share (discovered once)."""
    global _default
    if _default is None or refresh:
        _default = PluginRegistry.discover()
    return _default
