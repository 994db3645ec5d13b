"""The seismic generator's wavelet families (ganrecon.data.wavelets), checked against numerics they do not use."""

import numpy as np
import pytest
import torch
from scipy.signal import hilbert

from ganrecon.data import load_dataset
from ganrecon.data.wavelets import (
    WAVELET_FAMILIES,
    draw_shapes,
    klauder,
    ormsby,
    render_wavelets,
    ricker,
    rotated_ricker,
)
from ganrecon.errors import GanreconError

DT = 0.0005
TAU = np.arange(-4000, 4001) * DT  # +-2 s, finely sampled: the discrete transforms approximate the continuous ones


def spectrum_at(wave: np.ndarray, freqs) -> list[float]:
    spec = np.abs(np.fft.rfft(wave))
    grid = np.fft.rfftfreq(wave.size, DT)
    return [float(spec[np.argmin(np.abs(grid - f))] / spec.max()) for f in freqs]


def test_rotation_by_a_right_angle_is_the_hilbert_transform():
    r = ricker(TAU, 25.0)
    assert np.abs(rotated_ricker(TAU, 25.0, 0.0) - r).max() < 1e-12
    assert np.abs(rotated_ricker(TAU, 25.0, np.pi / 2) - np.imag(hilbert(r))).max() < 1e-5


def test_ormsby_passes_its_band_and_stops_outside():
    wave = ormsby(TAU, 5.0, 10.0, 40.0, 55.0)
    assert wave[4000] == pytest.approx(1.0)
    below, ramp, flat, stop = spectrum_at(wave, (3.0, 7.5, 25.0, 60.0))
    assert below < 0.01 and stop < 0.01 and flat > 0.95 and 0.3 < ramp < 0.7


def test_klauder_peaks_at_zero_lag_inside_its_sweep():
    wave = klauder(TAU, 8.0, 60.0, 8.0, 0.1)
    assert wave[4000] == pytest.approx(1.0) and np.abs(wave).max() == pytest.approx(1.0)
    inside, outside = spectrum_at(wave, (34.0, 90.0))
    assert inside > 0.9 and outside < 0.01


@pytest.mark.parametrize("family", WAVELET_FAMILIES)
def test_every_family_is_a_unit_pulse_below_nyquist(family):
    rng = np.random.default_rng(3)
    freq = np.array([8.0, 30.0, 45.0])
    shapes = draw_shapes(rng, family, freq, nyquist=125.0)
    waves = render_wavelets(family, np.stack([TAU] * 3), shapes)
    assert np.isfinite(waves).all() and (np.abs(waves).max(axis=1) <= 1.0 + 1e-9).all()
    assert (np.abs(waves).max(axis=1) > 0.5).all()
    for wave in waves:  # nothing above the Nyquist frequency of 4 ms sampling that the sampling would fold back
        assert spectrum_at(wave, (135.0,))[0] < 0.02


@pytest.mark.parametrize("spec, default, changed", [
    ("seismic:n=4,size=32x16,events=3", ",wavelets=ricker", ",wavelets=ormsby+klauder"),
    ("seismic:n=4,size=64x16,events=3,wavelets=klauder", ",sweep=4-12,taper=1.5-4", ",sweep=0.3-0.5,taper=40-50"),
])
def test_wavelet_options_change_the_data_and_the_default_stays(spec, default, changed):
    """Wavelet families, and the Klauder sweep and taper: spelling out a default draws the same data."""
    old, same, other = (load_dataset(spec + extra, seed=2) for extra in ("", default, changed))
    assert torch.equal(old.images, same.images)
    assert not torch.allclose(old.images, other.images)
    assert float(other.images.abs().amax(dim=(1, 2, 3)).min()) == pytest.approx(1.0)


def test_unknown_wavelet_family_is_one_sentence():
    with pytest.raises(GanreconError, match="wavelet family 'gabor'"):
        load_dataset("seismic:n=2,size=8x8,wavelets=ricker+gabor")


def test_short_sweep_klauder_is_the_autocorrelation_of_its_sweep():
    """A 0.32 s sweep: the (T - |tau|) envelope and the lag-dependent sinc matter, unlike for a field sweep."""
    from scipy.signal import chirp

    length, f1, f2 = 0.32, 5.0, 50.0
    t = np.arange(0.0, length, DT)
    sweep = chirp(t, f1, length, f2)
    auto = np.correlate(sweep, sweep, mode="full")
    lags = (np.arange(auto.size) - (t.size - 1)) * DT
    wave = klauder(lags, f1, f2, length, np.inf)
    assert np.corrcoef(auto / auto.max(), wave)[0, 1] > 0.995


def test_a_klauder_taper_of_zero_is_one_sentence():
    with pytest.raises(GanreconError, match="taper"):
        load_dataset("seismic:n=2,size=8x8,wavelets=klauder,taper=0")
