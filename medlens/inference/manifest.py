"""The plugin contract: ``plugin.toml`` parsed and validated into a :class:`Manifest`.

Names of the input/output description follow the MONAI Bundle ``network_data_format`` vocabulary
(``type``, ``format``, ``modality``, ``num_channels``, ``spatial_shape``, ``dtype``, ``value_range``,
``channel_def``) so a bundle author recognises them. Two MedLens conventions on top:

* ``input.spacing`` is in (x, y, z) millimetres, like SimpleITK and :class:`~medlens.viewer.model.Geometry`;
* ``input.spatial_shape`` (the patch size) is in tensor order, i.e. the array order (z, y, x), or (y, x)
  for 2D models, because that is the order the network sees.

Validation collects *every* problem and raises one :class:`ManifestError` listing them all, so a plugin
author fixes a manifest in one round instead of one error at a time.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from medlens.inference.errors import ManifestError
from medlens.inference.region_ranker import RegionRanker

TASKS = ("classification", "segmentation", "denoising")
RUNTIMES = ("onnx", "torchscript")
NORMALIZATIONS = ("ct_window", "zscore", "percentile", "none")
_ORIENTATION_RE = re.compile(r"^(?=.*[LR])(?=.*[PA])(?=.*[SI])[LRPASI]{3}$")


class _Strict(BaseModel):
    """Unknown keys are errors: a typo in a manifest must not silently fall back to a default."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class WeightsSpec(_Strict):
    """A weights file relative to the plugin folder (or absolute) and the sha256 it must have."""

    file: str
    sha256: str

    @field_validator("sha256", mode="before")
    @classmethod
    def _hex64(cls, v: Any) -> str:
        if not isinstance(v, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", v.strip()):
            raise ValueError("expected 64 hexadecimal digits (the file's sha256)")
        return v.strip().lower()


class Normalization(_Strict):
    """Intensity normalisation the model was trained with.

    * ``ct_window``: clip to ``window`` = (low, high) HU, then scale linearly to ``value_range``;
    * ``percentile``: clip to the (low, high) ``percentiles`` of the image, then scale to ``value_range``;
    * ``zscore``: subtract the mean, divide by the standard deviation (over non-zero voxels if ``nonzero``);
    * ``none``: feed the values as they are.

    ``organ_scale`` (``percentile`` only), modality -> k: for a series of that modality the upper bound
    is k x the median intensity inside the plugin's organ (``options.organ``) instead of the high
    percentile, so the organ's median lands at 1 / k of the range whatever else the field of view
    holds. Why: a whole-head contrast T1 has bright scalp fat and vessels, a skull-stripped series has
    none, and with percentiles alone the same brain lands at 0.3 in one and 0.77 in the other. When no
    organ is found the percentile is used, with a warning.
    """

    kind: Literal["ct_window", "zscore", "percentile", "none"] = "none"
    window: tuple[float, float] | None = None
    percentiles: tuple[float, float] = (0.5, 99.5)
    value_range: tuple[float, float] = (0.0, 1.0)
    nonzero: bool = False
    organ_scale: dict[str, float] = Field(default_factory=dict)

    @field_validator("organ_scale", mode="before")
    @classmethod
    def _scale_keys(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return {str(k).upper(): val for k, val in v.items()}
        return v


class InputSpec(_Strict):
    """What the network accepts (MONAI ``network_data_format.inputs.image``)."""

    type: Literal["image"] = "image"
    format: str = "magnitude"
    modality: list[str]
    dims: Literal[2, 3]
    num_channels: int = Field(default=1, ge=1)
    # 2.5D: a 2D model that sees ``slice_context`` neighbouring slices on each side as extra
    # channels (num_channels = 2 * slice_context + 1; edge slices repeat at the ends)
    slice_context: int = Field(default=0, ge=0, le=8)
    # the engine appends the organ mask (options.organ for the series' modality: 1 inside, 0 outside;
    # all ones when the plugin names none for it) as the last channel, so the model can bound its score
    organ_channel: bool = False
    spacing: tuple[float, float, float] | None = None
    orientation: str | None = None
    spatial_shape: tuple[int, ...] | None = None
    dtype: Literal["float32"] = "float32"
    overlap: float = Field(default=0.25, ge=0.0, lt=1.0)
    batch_size: int = Field(default=4, ge=1)
    normalization: Normalization = Normalization()

    @model_validator(mode="after")
    def _context_channels(self) -> InputSpec:
        image = 2 * self.slice_context + 1
        organ = int(self.organ_channel)
        if self.slice_context and (self.dims != 2 or self.num_channels != image + organ):
            extra = " and the organ mask" if organ else ""
            raise ValueError(
                f"slice_context = {self.slice_context} needs dims = 2 and "
                f"num_channels = {image + organ} (the slice and its neighbours{extra})"
            )
        if organ and self.num_channels < 2:
            raise ValueError("organ_channel needs num_channels >= 2 (the image and the organ mask)")
        return self

    @property
    def image_channels(self) -> int:
        """Channels made from the image (all but the organ mask)."""
        return self.num_channels - int(self.organ_channel)

    @field_validator("modality", mode="before")
    @classmethod
    def _modalities(cls, v: Any) -> list[str]:
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list) or not v or not all(isinstance(m, str) and m.strip() for m in v):
            raise ValueError('expected a list of DICOM modality codes such as ["CT"]')
        return [m.strip().upper() for m in v]

    @field_validator("spacing", mode="before")
    @classmethod
    def _spacing(cls, v: Any) -> Any:
        if v is None:
            return v
        ok = (
            isinstance(v, list | tuple)
            and len(v) == 3
            and all(isinstance(s, int | float) and not isinstance(s, bool) and s > 0 for s in v)
        )
        if not ok:
            raise ValueError("expected 3 positive numbers (x, y, z millimetres)")
        return tuple(float(s) for s in v)

    @field_validator("orientation", mode="before")
    @classmethod
    def _orientation(cls, v: Any) -> Any:
        if v is None:
            return v
        if not isinstance(v, str) or not _ORIENTATION_RE.match(v.upper()):
            raise ValueError('expected a 3-letter DICOM orientation code such as "LPS" or "RAS"')
        return v.upper()

    @field_validator("spatial_shape", mode="before")
    @classmethod
    def _shape(cls, v: Any) -> Any:
        if v is None:
            return v
        ok = (
            isinstance(v, list | tuple)
            and len(v) in (2, 3)
            and all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in v)
        )
        if not ok:
            raise ValueError("expected 2 or 3 positive integers (patch size in array order)")
        return tuple(v)


class LabelSpec(_Strict):
    """One row of a segmentation label table."""

    value: int = Field(ge=1, le=65535)
    name: str = Field(min_length=1)
    color: tuple[int, int, int] = (255, 0, 0)

    @field_validator("color", mode="before")
    @classmethod
    def _color(cls, v: Any) -> Any:
        ok = (
            isinstance(v, list | tuple)
            and len(v) == 3
            and all(isinstance(c, int) and 0 <= c <= 255 for c in v)
        )
        if not ok:
            raise ValueError("expected 3 integers 0-255 (red, green, blue)")
        return tuple(v)


class OutputSpec(_Strict):
    """What the network returns (MONAI ``network_data_format.outputs.pred``)."""

    type: Literal["image", "probabilities"] = "image"
    format: str = ""
    num_channels: int = Field(ge=1)
    activation: Literal["softmax", "sigmoid", "none"] = "none"
    dtype: Literal["float32"] = "float32"
    value_range: tuple[float, float] | None = None
    channel_def: dict[str, str] = Field(default_factory=dict)
    class_names: list[str] = Field(default_factory=list)
    labels: list[LabelSpec] = Field(default_factory=list)
    # Study-level probability of a slice-wise (2D) classifier: the mean over slices suits classes
    # that describe the whole series; "max" suits detectors ("lesion present" on any slice).
    study_aggregation: Literal["mean", "max"] = "mean"


class SaliencySpec(_Strict):
    """``[saliency]``: a TorchScript twin of an ONNX network, for gradient saliency and fine-tuning.

    ONNX graphs cannot be differentiated in MedLens; the twin (same weights, scripted or traced) can.
    Its sha256 is checked like the main weights' before it is loaded.
    """

    torchscript: str
    sha256: str

    @field_validator("sha256", mode="before")
    @classmethod
    def _hex64(cls, v: Any) -> str:
        return WeightsSpec._hex64(v)


class IGBaselineSpec(_Strict):
    """``saliency_ig_baseline``: the input Integrated Gradients integrates from.

    ``darkest`` (the default): every image pixel at the darkest normalised value (air on CT). ``blur``:
    each image channel Gaussian-blurred over its spatial axes by ``sigma_px`` pixels of the network's
    input grid, so only what the blur removes (structure smaller than it, such as a nodule) is
    integrated over. Why a choice: from black every bright, high-contrast structure the network looks
    at earns credit (chest wall, vessels), which can outweigh a small lesion; a plugin decides which
    baseline its maps point with and says how in its card.
    """

    kind: Literal["darkest", "blur"] = "darkest"
    sigma_px: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _sigma_for_blur(self) -> IGBaselineSpec:
        if (self.kind == "blur") != (self.sigma_px is not None):
            raise ValueError(
                'a blurred baseline needs sigma_px (and only it): { kind = "blur", sigma_px = 8.0 }'
            )
        return self


class RegionRankerSpec(_Strict):
    """``[options.region_ranker]``: the weights of ``component_rule = "learned"``
    (:class:`medlens.inference.region_ranker.RegionRanker`): a logistic score over named region
    features, standardised by ``mean`` and ``scale``, one value per feature."""

    features: tuple[str, ...] = Field(min_length=1)
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float

    @model_validator(mode="after")
    def _consistent(self) -> RegionRankerSpec:
        self.ranker()  # unknown features, uneven lengths and non-positive scales fail here
        return self

    def ranker(self) -> RegionRanker:
        """The :class:`~medlens.inference.region_ranker.RegionRanker` these weights describe."""
        return RegionRanker(self.features, self.mean, self.scale, self.coef, self.intercept)


class OptionsSpec(_Strict):
    """Defaults for the optional steps; a caller may override them per run."""

    tta_flips: bool = False
    # the axes flip TTA mirrors (model grid; x = the orientation's first letter): those the model was
    # trained to be invariant to - a flip it never saw measures its failure, not its uncertainty
    tta_axes: tuple[Literal["z", "y", "x"], ...] = ("z", "y", "x")
    keep_largest_component: bool = False
    # which component "keep largest" keeps: size (largest), by probability (mass / mean / peak), or
    # by a score learnt over several region features ("learned", weights in region_ranker)
    component_rule: Literal["size", "mass", "mean", "peak", "learned"] = "size"
    region_ranker: RegionRankerSpec | None = None
    # hysteresis: the kept region grows into the voxels connected to it with at least this probability
    grow_threshold: float | None = Field(default=None, gt=0.0, lt=1.0)
    # modality -> organ (organs.ORGANS): regions mostly outside that organ are dropped
    organ: dict[str, Literal["lungs", "brain"]] = Field(default_factory=dict)
    organ_fraction: float = Field(default=0.5, gt=0.0, le=1.0)  # "mostly": share of a region's voxels
    threshold: float = Field(default=0.5, gt=0.0, lt=1.0)

    @field_validator("organ", mode="before")
    @classmethod
    def _organ_keys(cls, v: Any) -> Any:
        return {str(k).strip().upper(): o for k, o in v.items()} if isinstance(v, dict) else v

    @model_validator(mode="after")
    def _ranker_for_learned(self) -> OptionsSpec:
        if self.component_rule == "learned" and self.region_ranker is None:
            raise ValueError('component_rule = "learned" needs [options.region_ranker] weights')
        return self

    @field_validator("tta_axes")
    @classmethod
    def _tta_axes(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if not v or len(set(v)) != len(v):
            raise ValueError('expected distinct axes, e.g. ["x"] or ["z", "y", "x"]')
        return v


class Manifest(_Strict):
    """A validated ``plugin.toml``. ``folder`` is where relative paths in it are resolved."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    name: str = Field(min_length=1)
    version: str = Field(min_length=1)
    task: Literal["classification", "segmentation", "denoising"]
    runtime: Literal["onnx", "torchscript"]
    weights: WeightsSpec
    extra_weights: dict[str, WeightsSpec] = Field(default_factory=dict)
    input: InputSpec
    output: OutputSpec
    options: OptionsSpec = OptionsSpec()
    # GradCAM layer(s), attribute paths in the TorchScript twin; several (an ensemble's members, one
    # block each) have their maps summed
    saliency_target_layer: str | tuple[str, ...] | None = None
    # classification twins built as a pooled logit map: the method returning that map (N, C, *spatial)
    saliency_evidence: str | None = None
    saliency_ig_baseline: IGBaselineSpec = IGBaselineSpec()
    saliency: SaliencySpec | None = None
    model_card: str
    description: str = ""
    pipeline: str | None = None
    folder: Path = Path(".")

    @field_validator("saliency_target_layer")
    @classmethod
    def _layers_named(cls, v: str | tuple[str, ...] | None) -> str | tuple[str, ...] | None:
        if isinstance(v, tuple) and (not v or not all(v)):
            raise ValueError('expected a layer path or a list of them: "dec.2" or ["a.dec.2", "b.dec.2"]')
        return v

    @property
    def gradcam_layers(self) -> tuple[str, ...]:
        """The GradCAM layer paths (none when the manifest names none)."""
        v = self.saliency_target_layer
        return () if not v else (v,) if isinstance(v, str) else v

    def path(self, relative: str) -> Path:
        """A path named in the manifest, resolved against the plugin folder."""
        p = Path(relative)
        return p if p.is_absolute() else self.folder / p

    @property
    def weights_path(self) -> Path:
        return self.path(self.weights.file)

    @property
    def model_card_path(self) -> Path:
        return self.path(self.model_card)

    def label_table(self) -> list[tuple[int, str, tuple[int, int, int]]]:
        return [(lab.value, lab.name, lab.color) for lab in self.output.labels]


# -- loading ---------------------------------------------------------------------------------------
def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _readable(err: dict[str, Any]) -> str:
    loc = ".".join(str(p) for p in err.get("loc", ())) or "(manifest)"
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    if kind == "missing":
        msg = "required field is missing"
    elif kind == "extra_forbidden":
        msg = "unknown field (a typo?)"
    elif kind == "literal_error":
        expected = str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")
        msg = f"must be one of {expected}"
    elif kind == "value_error":
        msg = str(ctx.get("error", err.get("msg", "")))
    elif kind == "string_pattern_mismatch" and loc == "id":
        msg = "expected lower-case letters, digits, '.', '_' or '-' (e.g. \"acme.liver-seg\")"
    else:
        text = str(err.get("msg", kind))
        msg = text[:1].lower() + text[1:]
        value = err.get("input")
        if value is not None and not isinstance(value, dict) and len(repr(value)) < 40:
            msg += f", got {value!r}"
    return f"{loc}: {msg}"


def _cross_checks(m: Manifest) -> list[str]:
    """Rules that span fields; run once every field is valid on its own."""
    problems: list[str] = []
    norm = m.input.normalization
    if norm.kind == "ct_window":
        if norm.window is None:
            problems.append('input.normalization.window: required for kind = "ct_window" (low, high HU)')
        elif norm.window[0] >= norm.window[1]:
            problems.append("input.normalization.window: low must be below high")
    if norm.kind == "percentile" and not 0 <= norm.percentiles[0] < norm.percentiles[1] <= 100:
        problems.append("input.normalization.percentiles: expected 0 <= low < high <= 100")
    if norm.organ_scale:
        if norm.kind != "percentile":
            problems.append('input.normalization.organ_scale: only with kind = "percentile"')
        for modality, k in norm.organ_scale.items():
            if modality not in m.options.organ:
                problems.append(f"input.normalization.organ_scale: no options.organ for {modality}")
            if not k > 1.0:
                problems.append(f"input.normalization.organ_scale.{modality}: expected a factor above 1")
    shape = m.input.spatial_shape
    if shape is not None and len(shape) != m.input.dims:
        problems.append(
            f"input.spatial_shape: a {m.input.dims}D model needs {m.input.dims} sizes, got {len(shape)}"
        )
    if m.task == "classification":
        if len(m.output.class_names) != m.output.num_channels:
            problems.append(
                f"output.class_names: classification needs one name per output channel "
                f"({m.output.num_channels}), got {len(m.output.class_names)}"
            )
    elif m.task == "segmentation":
        if not m.output.labels:
            problems.append("output.labels: a segmentation plugin needs a label table")
        values = [lab.value for lab in m.output.labels]
        if len(set(values)) != len(values):
            problems.append("output.labels: label values must be unique")
        expected = m.output.num_channels if m.output.activation == "sigmoid" else m.output.num_channels - 1
        if m.output.labels and len(m.output.labels) != expected:
            problems.append(
                f"output.labels: {m.output.num_channels} output channels with {m.output.activation} "
                f"activation give {expected} label(s), the table has {len(m.output.labels)}"
            )
    elif m.task == "denoising" and m.output.num_channels != 1:
        problems.append("output.num_channels: a denoising plugin returns 1 channel")
    if m.input.organ_channel:
        if m.task != "classification" or m.input.dims != 2:
            problems.append("input.organ_channel: only 2D (slice-wise) classification plugins take it")
        if not m.options.organ:
            problems.append("input.organ_channel: needs options.organ (which organ, per modality)")
    if not m.weights_path.is_file():
        problems.append(f"weights.file: {m.weights.file} not found in the plugin folder")
    for name, spec in m.extra_weights.items():
        if not m.path(spec.file).is_file():
            problems.append(f"extra_weights.{name}.file: {spec.file} not found")
    if m.saliency is not None and not m.path(m.saliency.torchscript).is_file():
        problems.append(f"saliency.torchscript: {m.saliency.torchscript} not found")
    if not m.model_card_path.is_file():
        problems.append(f"model_card: {m.model_card} not found in the plugin folder")
    return problems


def parse_manifest(data: dict[str, Any], folder: Path, source: str = "plugin.toml") -> Manifest:
    """Validate manifest ``data`` (already parsed TOML) whose relative paths live in ``folder``.

    Raises :class:`ManifestError` listing every problem found.
    """
    data = dict(data)
    data.pop("folder", None)
    try:
        manifest = Manifest(**data, folder=folder)
    except ValidationError as exc:
        raise ManifestError(source, [_readable(e) for e in exc.errors()]) from None
    problems = _cross_checks(manifest)
    if problems:
        raise ManifestError(source, problems)
    return manifest


def load_manifest(path: Path | str) -> Manifest:
    """Read and validate a ``plugin.toml`` (or a plugin folder holding one); never loads weights."""
    path = Path(path)
    if path.is_dir():
        path = path / "plugin.toml"
    source = _display(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ManifestError(source, [f"cannot read the manifest ({exc.strerror or exc})"]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(source, [f"not valid TOML ({exc})"]) from None
    return parse_manifest(data, path.parent, source)
