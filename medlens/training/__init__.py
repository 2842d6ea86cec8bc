"""Training and evaluation code for the built-in models (``plugins/``).

Why a package and not scripts: the plugins' ``train.py`` / ``evaluate.py`` and the tests must share
*one* definition of the data (which real sources, which grid), the synthetic lesions, the noise
models and the metrics, or the numbers in the model cards would drift from what the tests check.

Modules:

* :mod:`~medlens.training.sources` - the real volumes that install offline (DATA.md), on one grid;
* :mod:`~medlens.inference.organs` - crude lung / brain masks (where lesions may be placed);
* :mod:`~medlens.training.lesions` - synthetic lesion insertion into real anatomy;
* :mod:`~medlens.training.noise` - simulated low-dose CT and Rician MR noise;
* :mod:`~medlens.training.metrics` - Dice, HD95, AUC + bootstrap CI, ECE, PSNR, SSIM;
* :mod:`~medlens.training.nets` - the small networks (U-Nets, slice classifier, denoisers);
* :mod:`~medlens.training.export` - ONNX export with its sha256.

Nothing here downloads anything: every source is a file installed by pip or apt.
"""
