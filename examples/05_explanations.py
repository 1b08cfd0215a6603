# %% [markdown]
# # Why did the model say "7"? Saliency, integrated gradients, SHAP and LIME
#
# A small MNIST classifier is trained, then one test image is explained four ways with
# `nncore.explain`:
#
# - **saliency**: the gradient of the predicted class's logit with respect to the pixels;
# - **integrated gradients**: gradients averaged along the path from a black image, scaled by
#   the input (they add up to the logit's change: "completeness");
# - **KernelSHAP**: Shapley values of 4x4-pixel patches against a background of training
#   images (they add up to the prediction minus the average prediction);
# - **LIME**: a local linear model fitted to the classifier's answers on images with patches
#   switched off.
#
# Then a sanity check that the explanations mean something: hiding the patches SHAP ranks
# highest must hurt the prediction more than hiding random patches. Heat maps are written to
# `$NNCORE_EXAMPLE_OUT` (default `example-output/`).
#
# `NNCORE_EXAMPLE_QUICK=1` trains on 1,000 images and uses small sampling budgets.

# %%
import os
from pathlib import Path

import numpy as np

import nncore as torch
import nncore.nn as nn
from nncore import explain
from nncore.data import datasets
from nncore.utils.data import DataLoader, Subset

QUICK = os.environ.get("NNCORE_EXAMPLE_QUICK", "0") == "1"
OUT = Path(os.environ.get("NNCORE_EXAMPLE_OUT", "example-output")) / "explanations"
OUT.mkdir(parents=True, exist_ok=True)
torch.manual_seed(0)

mnist_train, test_set = datasets.MNIST(train=True), datasets.MNIST(train=False)
train_set = Subset(mnist_train, range(1000)) if QUICK else mnist_train

# %% [markdown]
# ## A classifier to explain

# %%
model = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
loss_fn = nn.CrossEntropyLoss()
for _ in range(1 if QUICK else 3):
    for x, y in DataLoader(train_set, batch_size=64, shuffle=True):
        loss = loss_fn(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
model.eval()

x_test = torch.from_numpy(test_set.data[:1000])
y_test = torch.from_numpy(test_set.targets[:1000])
with torch.no_grad():
    accuracy = (model(x_test).argmax(1) == y_test).float().mean().item()
print(f"test accuracy on 1,000 images: {accuracy:.4f}")

image = test_set.data[:1]          # (1, 1, 28, 28): the first test image, a 7
label = int(test_set.targets[0])
with torch.no_grad():
    logits = model(torch.from_numpy(image))
predicted = int(logits.argmax(1).item())
print(f"true label {label}, predicted {predicted}")

# %% [markdown]
# ## Gradient methods

# %%
sal = explain.saliency(model, image, abs=True)
ig = explain.integrated_gradients(model, image, baseline=0.0, steps=32)
with torch.no_grad():
    f_black = model(torch.zeros(1, 1, 28, 28))[0, predicted].item()
print(f"integrated gradients add up to {ig.attributions.sum():.4f}; "
      f"logit(x) - logit(black) = {logits[0, predicted].item() - f_black:.4f} "
      f"(quadrature error {abs(ig.delta[0]):.1e})")
explain.render_attribution(sal[0], OUT / "saliency.png", image=image[0], title="saliency")
explain.render_attribution(ig.attributions[0], OUT / "integrated_gradients.png", image=image[0],
                           title="integrated gradients")

# %% [markdown]
# ## KernelSHAP over 4x4 patches
#
# The 49 patches are the players; absent patches take the background images' pixels.

# %%
patches = explain.patch_segments(28, 28, 4)            # (28, 28) patch index per pixel
background = mnist_train.data[:5 if QUICK else 20]     # a few training images
shap = explain.kernel_shap(model, image, background, groups=patches[None],
                           nsamples=300 if QUICK else "auto", target=predicted, seed=0)
patch_values = shap.values[0]                         # (49,)
with torch.no_grad():
    expected = model(torch.from_numpy(background))[:, predicted].mean().item()
print(f"SHAP values add up to {patch_values.sum():.4f}; "
      f"f(x) - E[f(background)] = {logits[0, predicted].item() - expected:.4f}")
explain.render_attribution(patch_values[patches], OUT / "kernel_shap.png", image=image[0],
                           title="KernelSHAP (4x4 patches)")

# %% [markdown]
# ## LIME over the same patches

# %%
lime = explain.lime_image(model, image[0], target=predicted, segments=patches, hide_color=0.0,
                          num_samples=300 if QUICK else 2000, seed=0)
print(f"LIME surrogate R^2 {lime.score:.3f}; top patches {lime.top_features[:5].tolist()}; "
      f"SHAP's top patches {np.argsort(-patch_values)[:5].tolist()}")
explain.render_attribution(lime.coefficients[patches], OUT / "lime.png", image=image[0],
                           title="LIME (4x4 patches)")

# %% [markdown]
# ## Do the explanations point at what matters?
#
# Hide (set to black) the 8 patches with the largest SHAP values, and compare the drop of the
# predicted class's probability with hiding 8 random patches (averaged over 20 draws).


# %%
def prob_without(hidden):
    masked = image.copy()
    masked[0, 0][np.isin(patches, hidden)] = 0.0
    with torch.no_grad():
        return model(torch.from_numpy(masked)).softmax(1)[0, predicted].item()


p_full = prob_without([])
p_shap = prob_without(np.argsort(-patch_values)[:8])
rng = np.random.default_rng(0)
p_random = np.mean([prob_without(rng.choice(49, 8, replace=False)) for _ in range(20)])
print(f"p({predicted}): full image {p_full:.3f}, top-8 SHAP patches hidden {p_shap:.3f}, "
      f"8 random patches hidden {p_random:.3f}")
print(f"heat maps in {OUT}")

# %%
print(f"RESULT accuracy={accuracy:.4f} prob_full={p_full:.3f} prob_shap_hidden={p_shap:.3f} "
      f"prob_random_hidden={p_random:.3f}")
