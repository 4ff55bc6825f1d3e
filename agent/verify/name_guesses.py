"""What a parameter's name (and annotation) says it holds: the value to guess for it, or that it holds an
object nothing can guess (a module, a callable, a config, a path)."""
from __future__ import annotations

import inspect
import re

_NAME_GUESSES: list[tuple[re.Pattern, object]] = [(re.compile(p), v) for p, v in [
    (r"(^|_)(p|drop|dropout|drop_rate|drop_prob|attn_drop|proj_drop|drop_path\w*|\w*pdrop)$", 0.0),
    (r"(^|_)(eps|epsilon)($|_)", 1e-5),  # not `timesteps`
    (r"heads$|n_head|num_head|nhead|_head$", 2),  # `head` alone is a module (a projection head)
    # `layer` alone is a module (below); a count of downsampling stages halves the input that many times
    (r"(^|_|^n)layers$|depth|n_layer|num_blocks|blocks$|downs$|downsampl|n_down|num_down|stages$|levels$", 2),
    (r"classes|num_labels|n_class|nclass", 10),
    (r"vocab|num_embeddings|n_token|num_tokens$|ntoken|n_vocab", 50),
    (r"kernel", 3),
    (r"stride|dilation", 1),
    (r"padding|pad$", 0),
    (r"num_groups|groups", 2),
    (r"(max|seq|block|context)_?(len|length|size)|n_ctx|n_positions|max_position", 16),
    (r"ratio|mult|expansion", 2),
    (r"^(bias|affine|use_\w+|with_\w+|enable_\w+|is_\w+|has_\w+)$", True),
    (r"^(training|train|inplace|deterministic|verbose|debug)$", False),  # False: the deterministic path
    # an up-sampling factor: 2 (an integer, as pixel shuffles and size arithmetic need; 1 would check nothing)
    (r"scale_factor|upscale|upsample|up_factor", 2),
    (r"scale|temperature|alpha|beta|gamma|sigma|^std$|^tau$", 1.0),
    (r"channels?|dim|features|planes|hidden|size|width|embed|d_model|^ch|filters|units|^n_|^in_|^out_", 8),
]]  # compiled at import: in the sides' templates, not in every session


def guess_value(name: str, annotation=inspect.Parameter.empty):
    low = name.lower()
    value = next((v for pattern, v in _NAME_GUESSES if pattern.search(low)), inspect.Parameter.empty)
    if value is inspect.Parameter.empty:
        value = {int: 8, "int": 8, float: 1.0, "float": 1.0, bool: False, "bool": False}.get(
            annotation if isinstance(annotation, (type, str)) else None, inspect.Parameter.empty)
    arity = int_tuple_arity(annotation)
    if arity:  # `image_size: Tuple[int, int]`: as many numbers as the annotation says
        one = value if type(value) is int else 8
        return tuple([one] * arity)
    return value


_INT_TUPLE = re.compile(r"^(typing\.)?(Tuple|tuple)\[int(, ?int)*\]$")


def int_tuple_arity(annotation) -> int | None:
    """How many ints `Tuple[int, int]` (a string or a typing object) holds; None for anything else."""
    if annotation is inspect.Parameter.empty or annotation is None:
        return None
    text = (annotation if isinstance(annotation, str) else str(annotation).replace("typing.", "")).replace(" ", "")
    return text.count("int") if _INT_TUPLE.match(text.replace(",", ", ")) else None


def count_by_name(name: str) -> int | None:
    """The integer a parameter's name alone says it holds (`heads` 2, `kernel_size` 3, `multiple` 2),
    None for names that may as well hold a tensor (`hidden`, `features`, `size`: the generic width)."""
    low = name.lower()
    for pattern, value in _NAME_GUESSES[:-1]:
        if pattern.search(low):
            return value if isinstance(value, int) and not isinstance(value, bool) else None
    return None


_OBJECT_PARAM = re.compile(r"^[fgh]$|(^|_)(fn|func|fns|net|network|module|modules|block|blocks|layer|layers|model|encoder|"
                           r"decoder|backbone|body|head|callable|wrapped|cls|config|cfg|args|opts?|params|kwargs|"
                           r"tokenizer|vocab|path|file|name|mode|type|kind)$")


def names_object(name: str) -> bool:
    """Whether a parameter's name says it holds a module, callable, config or path (nothing to guess)."""
    return bool(_OBJECT_PARAM.search(name.lower()))
