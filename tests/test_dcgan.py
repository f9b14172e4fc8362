"""The DCGAN adapts to the image shape, and its generator step computes no gradients for D (a speed-up that
changes nothing else)."""

import pytest
import torch

from ganstudio.api import ModelConfig
from ganstudio.builtin.models.dcgan.nets import DCGAN
from ganstudio.testing import FixedBatches, step_context


def test_generator_step_adds_no_gradients_to_d_and_leaves_d_trainable():
    model = DCGAN(ModelConfig((1, 28, 28), 0, {"width": 8}))
    opts = model.configure_optimizers()
    at_d_step = {}
    real_step = opts["discriminator"].step

    def recording_step(*args, **kwargs):
        at_d_step.update({n: p.grad.clone() for n, p in model.discriminator.named_parameters()})
        return real_step(*args, **kwargs)

    opts["discriminator"].step = recording_step
    model.training_step(FixedBatches(torch.rand(4, 1, 28, 28) * 2 - 1), opts, step_context())
    # Had the G step computed D's gradients, they would have been added to the D step's.
    for name, p in model.discriminator.named_parameters():
        assert torch.equal(p.grad, at_d_step[name]), name
        assert p.requires_grad
    assert all(p.grad is not None for p in model.generator.parameters())


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 64, 64), (3, 32, 32)])
def test_shapes_adapt(shape):
    model = DCGAN(ModelConfig(shape, 0, {"width": 8}))
    assert model.generate(model.sample_latent(2)).shape == (2, *shape)
    assert model.discriminator(torch.zeros(2, *shape)).shape == (2,)


def test_discriminate_scores_each_image_with_d_s_logit(one_torch_thread):
    torch.manual_seed(0)
    model = DCGAN(ModelConfig((1, 28, 28), 0, {"width": 8})).eval()
    images = torch.rand(5, 1, 28, 28) * 2 - 1
    with torch.no_grad():
        scores = model.discriminate(images)
        assert scores.shape == (5,) and scores.dtype == torch.float32 and torch.isfinite(scores).all()
        assert torch.allclose(scores, model.discriminator(images), atol=1e-5)
        assert not torch.allclose(scores, model.discriminate(-images)), "the score depends on the image"
