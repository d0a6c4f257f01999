"""The tokenizer families make_family_fixtures.py writes: each real family's stages exactly as its
tokenizer.json has them, special tokens and tokenizer_config.json; then STAGES, the options no
family uses; and EXTRA_TEXTS, the texts added to make_fixtures.py's tricky ones."""

SPACE = "\u2581"

LLAMA3_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
                r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_REGEX = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
               r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def split_regex(regex):
    return {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": False}


def byte_level(add_prefix_space=False, trim_offsets=True, use_regex=True):
    return {"type": "ByteLevel", "add_prefix_space": add_prefix_space,
            "trim_offsets": trim_offsets, "use_regex": use_regex}


def template(bos):
    return {"type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": bos, "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": bos, "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": bos, "type_id": 1}},
                     {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {bos: {"id": bos, "ids": [None], "tokens": [bos]}}}


SPM_DECODER = {"type": "Sequence", "decoders": [
    {"type": "Replace", "pattern": {"String": SPACE}, "content": " "},
    {"type": "ByteFallback"}, {"type": "Fuse"},
    {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}
LLAMA2_NORMALIZER = {"type": "Sequence", "normalizers": [
    {"type": "Prepend", "prepend": SPACE},
    {"type": "Replace", "pattern": {"String": " "}, "content": SPACE}]}

# Per family: the stages of its real tokenizer.json, its special tokens (content, special, rstrip,
# normalized) in id order after the vocabulary (byte-level) or before it (SentencePiece style),
# and its tokenizer_config.json.
FAMILIES = {
    "llama3": dict(
        byte_level=True, normalizer=None,
        pre_tokenizer={"type": "Sequence", "pretokenizers": [
            split_regex(LLAMA3_REGEX), byte_level(False, True, False)]},
        post_processor={"type": "Sequence", "processors": [
            byte_level(True, False, True), template("<|begin_of_text|>")]},
        decoder=byte_level(True, True, True), ignore_merges=True,
        specials=["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
                  "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
        config={"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>",
                "tokenizer_class": "PreTrainedTokenizerFast",
                "chat_template": "{{ bos_token }}{% for m in messages %}<|start_header_id|>"
                                 "{{ m['role'] }}<|end_header_id|>\n\n{{ m['content'] }}"
                                 "<|eot_id|>{% endfor %}"}),
    "qwen2": dict(
        byte_level=True, normalizer={"type": "NFC"},
        pre_tokenizer={"type": "Sequence", "pretokenizers": [
            split_regex(QWEN2_REGEX), byte_level(False, False, False)]},
        post_processor=byte_level(False, False, False), decoder=byte_level(False, False, False),
        specials=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        non_special=["<tool_call>", "</tool_call>"],
        config={"bos_token": None, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>",
                "tokenizer_class": "Qwen2Tokenizer", "add_prefix_space": False,
                "chat_template": "{% for m in messages %}<|im_start|>{{ m['role'] }}\n"
                                 "{{ m['content'] }}<|im_end|>\n{% endfor %}"}),
    "smollm2": dict(
        byte_level=True, normalizer=None,
        pre_tokenizer={"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": True}, byte_level(False, True, True)]},
        post_processor=byte_level(True, False, True), decoder=byte_level(True, True, True),
        specials=["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<repo_name>"],
        config={"bos_token": "<|im_start|>", "eos_token": "<|im_end|>", "pad_token": "<|im_end|>",
                "unk_token": {"content": "<|endoftext|>", "__type": "AddedToken"},
                "tokenizer_class": "GPT2Tokenizer", "add_prefix_space": False,
                "chat_template": [{"name": "default", "template": "{{ messages }}"},
                                  {"name": "tool_use", "template": "{{ tools }}"}]}),
    "llama2": dict(
        byte_level=False, normalizer=LLAMA2_NORMALIZER, pre_tokenizer=None,
        post_processor=template("<s>"), decoder=SPM_DECODER,
        specials=["<unk>", "<s>", "</s>"],
        config={"add_bos_token": True, "add_eos_token": False, "legacy": False,
                "bos_token": {"__type": "AddedToken", "content": "<s>", "lstrip": False,
                              "normalized": False, "rstrip": False, "single_word": False},
                "eos_token": "</s>", "unk_token": "<unk>", "pad_token": None,
                "tokenizer_class": "LlamaTokenizer"}),
    "mistral": dict(
        byte_level=False, normalizer=None,
        pre_tokenizer={"type": "Metaspace", "replacement": SPACE, "prepend_scheme": "first",
                       "split": False},
        post_processor=template("<s>"), decoder=SPM_DECODER,
        specials=["<unk>", "<s>", "</s>", "[INST]", "[/INST]"],
        config={"add_bos_token": True, "add_eos_token": False, "bos_token": "<s>",
                "eos_token": "</s>", "unk_token": "<unk>", "tokenizer_class": "LlamaTokenizer"}),
    "tinyllama_metaspace": dict(  # a file from before prepend_scheme: add_prefix_space only
        byte_level=False, normalizer=None,
        pre_tokenizer={"type": "Metaspace", "replacement": SPACE, "add_prefix_space": True},
        post_processor=template("<s>"),
        decoder={"type": "Sequence", "decoders": [
            {"type": "Metaspace", "replacement": SPACE, "add_prefix_space": True},
            {"type": "ByteFallback"}, {"type": "Fuse"}]},
        specials=["<unk>", "<s>", "</s>"],
        config={"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
                "tokenizer_class": "PreTrainedTokenizerFast"}),
    "gemma": dict(
        byte_level=False,
        normalizer={"type": "Replace", "pattern": {"String": " "}, "content": SPACE},
        pre_tokenizer=None, post_processor=template("<bos>"),
        decoder={"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": SPACE}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"}]},
        specials=["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"],
        config={"add_bos_token": True, "add_eos_token": False, "bos_token": "<bos>",
                "eos_token": "<eos>", "pad_token": "<pad>", "unk_token": "<unk>",
                "tokenizer_class": "GemmaTokenizer",
                "chat_template": "overridden by chat_template.jinja"},
        jinja="{{ bos_token }}{% for m in messages %}<start_of_turn>{{ m['role'] }}\n"
              "{{ m['content'] }}<end_of_turn>\n{% endfor %}"),
    "phi3": dict(
        byte_level=False, normalizer=LLAMA2_NORMALIZER, pre_tokenizer=None,
        post_processor=template("<s>"), decoder=SPM_DECODER,
        specials=["<unk>", "<s>", "</s>"],
        # After the vocabulary, as in Phi-3: chat markers that swallow the whitespace after them.
        late_specials=[("<|endoftext|>", False), ("<|assistant|>", True), ("<|end|>", True),
                       ("<|user|>", True)],
        config={"add_bos_token": False, "add_eos_token": False, "bos_token": "<s>",
                "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>", "unk_token": "<unk>",
                "tokenizer_class": "LlamaTokenizer"}),
}

# Not real models: the stages and options no family above uses, each checked the same way.
STAGES = {
    "stages_normalizers": dict(
        byte_level=False, train_stages=True,
        normalizer={"type": "Sequence", "normalizers": [
            {"type": "NFKC"}, {"type": "Lowercase"},
            {"type": "Strip", "strip_left": True, "strip_right": True},
            {"type": "Replace", "pattern": {"Regex": r"\s{2,}"}, "content": " "},
            {"type": "NFD"}]},
        pre_tokenizer={"type": "Sequence", "pretokenizers": [
            {"type": "Punctuation", "behavior": "Isolated"},
            {"type": "Digits", "individual_digits": False},
            {"type": "Metaspace", "replacement": SPACE, "prepend_scheme": "always",
             "split": True}]},
        post_processor={"type": "TemplateProcessing",
                        "single": [{"Sequence": {"id": "A", "type_id": 0}},
                                   {"SpecialToken": {"id": "</s>", "type_id": 0}}],
                        "pair": [{"Sequence": {"id": "A", "type_id": 0}},
                                 {"Sequence": {"id": "B", "type_id": 1}}],
                        "special_tokens": {"</s>": {"id": "</s>", "ids": [None],
                                                    "tokens": ["</s>"]}}},
        # HF's Strip panics when stop > 0 meets a token it would empty; only start is checked.
        decoder={"type": "Sequence", "decoders": [
            {"type": "Strip", "content": "e", "start": 1, "stop": 0},
            {"type": "Metaspace", "replacement": SPACE, "prepend_scheme": "always",
             "split": True},
            {"type": "ByteFallback"}, {"type": "Fuse"}]},
        specials=["<unk>", "<s>", "</s>"], config={"eos_token": "</s>"},
        # Matched in normalized text, so HF normalizes their content too ("[CODE]" -> "[code]").
        normalized_tokens=["[CODE]", "ony"]),
    "stages_split": dict(
        byte_level=False, train_stages=True,
        normalizer={"type": "Sequence", "normalizers": [
            {"type": "NFD"}, {"type": "Prepend", "prepend": "@"},
            {"type": "Strip", "strip_left": False, "strip_right": True}]},
        pre_tokenizer={"type": "Sequence", "pretokenizers": [
            {"type": "WhitespaceSplit"},
            {"type": "Split", "pattern": {"String": "-"}, "behavior": "MergedWithPrevious",
             "invert": False},
            {"type": "Split", "pattern": {"Regex": "[aeiou]"}, "behavior": "MergedWithNext",
             "invert": False},
            {"type": "Split", "pattern": {"Regex": r"\p{N}"}, "behavior": "Contiguous",
             "invert": False},
            {"type": "Split", "pattern": {"Regex": "x+"}, "behavior": "Removed",
             "invert": False},
            {"type": "Split", "pattern": {"Regex": r"\p{L}+"}, "behavior": "Isolated",
             "invert": True},
            {"type": "Punctuation", "behavior": "MergedWithNext"},
            {"type": "Digits", "individual_digits": True}]},
        post_processor=None,
        decoder={"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"Regex": "a+"}, "content": "A"},
            {"type": "ByteFallback"}, {"type": "Fuse"}]},
        specials=["<unk>", "<s>", "</s>"], config={}),
    "stages_bytelevel": dict(
        byte_level=True, train_stages=True,
        normalizer={"type": "Sequence", "normalizers": [
            {"type": "Strip", "strip_left": True, "strip_right": False},
            {"type": "Lowercase"}]},
        pre_tokenizer={"type": "Sequence", "pretokenizers": [
            {"type": "Whitespace"},
            {"type": "Split", "pattern": {"Regex": r"\d"}, "behavior": "Isolated",
             "invert": True},
            byte_level(True, True, True)]},
        # trim_offsets=False: where HF trims inside a character, the char offsets Python
        # returns do not say which bytes it kept.
        post_processor=byte_level(True, False, True), decoder=byte_level(True, True, True),
        specials=["<|endoftext|>"], config={}),
    "stages_no_decoder": dict(
        byte_level=False, train_stages=True, normalizer=None,
        pre_tokenizer={"type": "Sequence", "pretokenizers": [
            {"type": "Whitespace"}, {"type": "Metaspace", "replacement": "_",
                                     "prepend_scheme": "never", "split": False}]},
        post_processor=None, decoder=None, unk_only=True,
        specials=["<unk>"], config={}),
}

EXTRA_TEXTS = [
    "<s>", "<s>hello</s>", " <s> x </s> ", "a<unk>b", "<bos>Hi<eos>", "<|begin_of_text|>Hello",
    "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>", "<|im_start|>user\nHi<|im_end|>",
    "<start_of_turn>user\nHi<end_of_turn>", "<|user|>\n  Hi<|end|>\n<|assistant|>  ok",
    "[INST] Hi [/INST]", "<tool_call>{}</tool_call>", "<repo_name>x", "HELLO'S World'LL 'Re",
    "\u017ft \u212a \u0130stanbul I'\u017f", "12345678901234", "a\u0301\u0302 e\u0301 \u1100\u1161\u11a8",
    "\uac00\u11a8 \u0b47\u0b3e \u00c5 A\u030a \ufb01", "\u2581 leading meta \u2581\u2581x",
    "   three leading", "x" + "\u2581" * 3, "\U0001f9d1\u200d\U0001f4bb code", "tab\t\tx\n\n\ny",
]
