"""What more than one built-in model uses, so that no model folder imports another: image sides the DCGAN-style
networks can build (``upsampling_plan``, ``square_sides``) here, without torch, for the registration modules; the
DCGAN networks, their initialisation and the hinge losses in ``shared/nets.py``, and the two-network GAN model
(optimizers, memory format, G's step through a frozen D, the D/G metrics) in ``shared/gan.py``, imported when a
model is built. Only ganstudio/builtin/models/* import it; of ganstudio it imports only the published API."""

from __future__ import annotations


def upsampling_plan(side: int) -> tuple[int, int] | None:
    """(base, k) with side == base * 2**k, base in 4..8 where possible (3 for 3*2^k), k >= 1; else None.

    Halving down to the smallest base >= 4 gives the canonical 4x4 start at 64x64 and 7x7 at 28x28."""
    base, k = side, 0
    while base % 2 == 0 and base // 2 >= 3:
        base //= 2
        k += 1
        if base // 2 < 4:
            break
    return (base, k) if k >= 1 and base <= 8 else None


def square_sides(model: str):
    """A ``supports(image_shape)`` for models built on ``upsampling_plan``: square images whose side it can build
    (shared by dcgan, cdcgan, wgan-gp and sngan)."""

    def supports(image_shape) -> str | None:
        c, h, w = image_shape
        if h != w:
            return f"{model} needs square images, got {h}x{w}"
        if upsampling_plan(h) is None:
            return (
                f"{model} cannot build {h}x{w} images: the side must be 3..8 times a power of two "
                "(e.g. 28, 32, 64, 128)"
            )
        return None

    return supports
