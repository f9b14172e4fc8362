"""cdcgan's ac_margin: G's class term as MHingeGAN's multi-class hinge (Kavalerov et al. 2021) instead of AC-GAN's
cross entropy; off (0) by default, and checkpoints from before it train as they did."""

import pytest
import torch

from ganstudio.api import ModelConfig
from ganstudio.api.options import recorded_options
from ganstudio.builtin.models.cdcgan import CDCGANOptions
from ganstudio.builtin.models.cdcgan.nets import ConditionalDCGAN, class_hinge, generator_class_loss
from ganstudio.testing import FixedBatches, step_context

TINY = {"width": "8", "latent_dim": "16", "ac": "1"}


def test_the_hinge_costs_nothing_once_the_asked_class_leads_by_the_margin():
    labels = torch.tensor([0, 1, 2])
    logits = torch.tensor(
        [
            [4.0, 1.0, 0.0],  # class 0 leads the best other by 3: past a margin of 2, no cost
            [0.0, 1.5, 1.0],  # class 1 leads by 0.5: costs 2 - 0.5
            [3.0, 0.0, 1.0],  # class 2 trails class 0 by 2: costs 2 + 2
        ]
    )
    assert class_hinge(logits, labels, 2.0).item() == pytest.approx((0.0 + 1.5 + 4.0) / 3)
    # The cross entropy still pushes the first image, which the hinge leaves alone.
    per_image = logits.clone().requires_grad_(True)
    class_hinge(per_image, labels, 2.0).backward()
    assert torch.equal(per_image.grad[0], torch.zeros(3))
    assert per_image.grad[1].abs().sum() > 0 and per_image.grad[2].abs().sum() > 0
    # generator_class_loss: margin 0 is the cross entropy (AC-GAN), a margin the weighted hinge
    ce = torch.nn.functional.cross_entropy(logits, labels).item()
    assert generator_class_loss(logits, None, labels, 3.0, 0.0) == pytest.approx(3 * ce)
    assert generator_class_loss(logits, None, labels, 3.0, 0.0, margin=2.0).item() == pytest.approx(3 * 5.5 / 3)


def test_ac_margin_changes_g_step_alone_and_old_checkpoints_keep_the_cross_entropy(one_torch_thread):
    labels = torch.arange(32) % 4
    images = torch.rand(32, 1, 28, 28) * 2 - 1

    def one_step(**options):
        torch.manual_seed(0)
        model = ConditionalDCGAN(ModelConfig((1, 28, 28), 4, {**TINY, **options}, model="cdcgan"))
        model.training_step(FixedBatches(images, labels, batch_size=32), model.configure_optimizers(), step_context())
        return model

    plain, hinge = one_step(), one_step(ac_margin="1")
    assert all(torch.equal(a, b) for a, b in zip(plain.discriminator.parameters(), hinge.discriminator.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(plain.generator.parameters(), hinge.generator.parameters()))
    assert CDCGANOptions().ac_margin == 0.0
    assert recorded_options(CDCGANOptions, {"width": 32})["ac_margin"] == 0.0  # a checkpoint from before the option
