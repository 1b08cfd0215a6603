"""``torch.nn.modules.module``'s names, found in nncore when first used (see ``_lazy``)."""

from nncore.nn.modules._lazy import exports

_NAMES = (
    "register_module_forward_pre_hook", "register_module_forward_hook",
    "register_module_full_backward_pre_hook", "register_module_backward_hook",
    "register_module_full_backward_hook", "register_module_buffer_registration_hook",
    "register_module_module_registration_hook", "register_module_parameter_registration_hook",
    "Module", "_IncompatibleKeys", "_addindent",
)
__getattr__, __dir__ = exports(__name__, _NAMES, ("nncore.nn.module", "nncore.nn.hooks"))
