/* test_diagnostics.c — every diagnostic the front end gives, pinned with
 * its exact text: `t.net:L:C: error: message`, the source line, the caret
 * line and the notes (jq's %%FAIL blocks). A message change shows up here
 * as a diff to read, so each one stays clear, points at the right span and
 * says how to fix the problem. */
#include "front.h"

typedef struct DiagCase {
    const char *name;
    size_t len; /* of src: some hold NUL bytes */
    const char *src;
    const char *want;
} DiagCase;

static const DiagCase cases[] = {
    { "unknown_layer_suggest", 64,
        "model m(x: f32[784]) -> f32[10] {\n"
        "    x -> dense(10) -> relu6\n"
        "}\n",
        "t.net:2:23: error: unknown layer 'relu6'; did you mean 'relu'?\n"
        "    2 |     x -> dense(10) -> relu6\n"
        "      |                       ^~~~~\n" },
    { "unknown_layer_define", 69,
        "model m(x: f32[784]) -> f32[10] {\n"
        "    x -> frobnicate -> dense(10)\n"
        "}\n",
        "t.net:2:10: error: unknown layer 'frobnicate'; define it with 'layer frobnicate(x: f32[N]) { ... }'\n"
        "    2 |     x -> frobnicate -> dense(10)\n"
        "      |          ^~~~~~~~~~\n" },
    { "unknown_train_key_suggest", 109,
        "model m(x: f32[784]) -> f32[10] { x -> dense(10) }\n"
        "train m { data idx(\"a\", \"b\") loss cross_entropy epoch 5 }\n",
        "t.net:2:49: error: unknown key 'epoch' in train block; did you mean 'epochs'?\n"
        "    2 | train m { data idx(\"a\", \"b\") loss cross_entropy epoch 5 }\n"
        "      |                                                 ^~~~~\n" },
    { "unknown_train_key_plain", 109,
        "model m(x: f32[784]) -> f32[10] { x -> dense(10) }\n"
        "train m { data idx(\"a\", \"b\") loss cross_entropy turbo 5 }\n",
        "t.net:2:49: error: unknown key 'turbo' in train block; the keys are data, test, loss, optimizer, schedule, batch, epochs, steps, seed, clip, augment, noise, step, init, val, eval_every, stop_after and monitor\n"
        "    2 | train m { data idx(\"a\", \"b\") loss cross_entropy turbo 5 }\n"
        "      |                                                 ^~~~~\n" },
    { "softmax_before_cross_entropy", 116,
        "model m(x: f32[784]) -> f32[10] {\n"
        "    x -> dense(10) -> softmax\n"
        "}\n"
        "train m { data idx(\"a\", \"b\") loss cross_entropy }\n",
        "t.net:4:35: error: cross_entropy takes class scores and applies softmax itself, but these scores come out of softmax, so it would be applied twice and training would stall; drop the softmax at the model's end (predict --probs gives probabilities)\n"
        "    4 | train m { data idx(\"a\", \"b\") loss cross_entropy }\n"
        "      |                                   ^~~~~~~~~~~~~\n"
        "t.net:2:23: note: the softmax is here\n"
        "    2 |     x -> dense(10) -> softmax\n"
        "      |                       ^~~~~~~\n" },
    { "misspelt_flag", 71,
        "model a(x: f32[8, 16]) -> f32[8, 16] {\n"
        "    x -> attention(2, casual)\n"
        "}\n",
        "t.net:2:23: error: unknown name 'casual'; did you mean attention's flag 'causal'?\n"
        "    2 |     x -> attention(2, casual)\n"
        "      |                       ^~~~~~\n" },
    { "val_source_against_model", 174,
        "model m(tok: i32[16]) -> f32[16, 256] { tok -> embed(256, 8) -> gru(8) -> dense(256) }\n"
        "train m { data text(\"c.txt\", seq = 16) val text(\"c.txt\", seq = 8) loss cross_entropy }\n",
        "t.net:2:44: error: model 'm' takes tok: i32[16] but this source gives i32[8] samples\n"
        "    2 | train m { data text(\"c.txt\", seq = 16) val text(\"c.txt\", seq = 8) loss cross_entropy }\n"
        "      |                                            ^~~~~~~~~~~~~~~~~~~~~~\n" },
    { "dense_after_conv", 77,
        "model m(x: f32[1, 28, 28]) -> f32[10] {\n"
        "    x -> conv2d(8, 3) -> dense(10)\n"
        "}\n",
        "t.net:2:26: error: dense(10) expects f32[N] (or a sequence f32[T, N]), got f32[8, 26, 26]; insert flatten before it\n"
        "    2 |     x -> conv2d(8, 3) -> dense(10)\n"
        "      |                          ^~~~~~~~~\n" },
    { "return_type_mismatch", 55,
        "model m(x: f32[784]) -> f32[10] {\n"
        "    x -> dense(12)\n"
        "}\n",
        "t.net:2:5: error: model 'm' returns f32[10] but its body produces f32[12]\n"
        "    2 |     x -> dense(12)\n"
        "      |     ^~~~~~~~~~~~~~\n"
        "t.net:1:25: note: return type declared here\n"
        "    1 | model m(x: f32[784]) -> f32[10] {\n"
        "      |                         ^~~~~~~\n" },
    { "duplicate_label", 76,
        "model m(x: f32[784]) -> f32[10] {\n"
        "    x -> fc: dense(64) -> fc: dense(10)\n"
        "}\n",
        "t.net:2:27: error: duplicate layer name 'fc'; each layer call needs its own name, as its parameters are saved under it\n"
        "    2 |     x -> fc: dense(64) -> fc: dense(10)\n"
        "      |                           ^~\n"
        "t.net:2:10: note: 'fc' first named here\n"
        "    2 |     x -> fc: dense(64) -> fc: dense(10)\n"
        "      |          ^~\n" },
    { "duplicate_model", 102,
        "model m(x: f32[784]) -> f32[10] { x -> dense(10) }\n"
        "model m(x: f32[784]) -> f32[10] { x -> dense(10) }\n",
        "t.net:2:7: error: redefinition of 'm'\n"
        "    2 | model m(x: f32[784]) -> f32[10] { x -> dense(10) }\n"
        "      |       ^\n"
        "t.net:1:7: note: previous definition here\n"
        "    1 | model m(x: f32[784]) -> f32[10] { x -> dense(10) }\n"
        "      |       ^\n" },
    { "duplicate_layer_model", 84,
        "layer m(x: f32[N]) { x -> relu }\n"
        "model m(x: f32[784]) -> f32[10] { x -> dense(10) }\n",
        "t.net:2:7: error: redefinition of 'm'\n"
        "    2 | model m(x: f32[784]) -> f32[10] { x -> dense(10) }\n"
        "      |       ^\n"
        "t.net:1:7: note: previous definition here\n"
        "    1 | layer m(x: f32[N]) { x -> relu }\n"
        "      |       ^\n" },
    { "builtin_name", 79,
        "layer relu(x: f32[N]) { x }\n"
        "model m(x: f32[784]) -> f32[10] { x -> dense(10) }\n",
        "t.net:1:7: error: 'relu' is the name of a built-in layer; choose another name\n"
        "    1 | layer relu(x: f32[N]) { x }\n"
        "      |       ^~~~\n" },
    { "too_many_args", 60,
        "model m(x: f32[784]) -> f32[10] { x -> dense(10, true, 3) }\n",
        "t.net:1:56: error: too many arguments to dense; it takes dense(x, units, bias), and in a chain 'x' is the value before '->'\n"
        "    1 | model m(x: f32[784]) -> f32[10] { x -> dense(10, true, 3) }\n"
        "      |                                                        ^\n" },
    { "unknown_kwarg_suggest", 65,
        "model m(x: f32[784]) -> f32[10] { x -> dense(10, bais = false) }\n",
        "t.net:1:50: error: dense has no argument 'bais'; did you mean 'bias'?\n"
        "    1 | model m(x: f32[784]) -> f32[10] { x -> dense(10, bais = false) }\n"
        "      |                                                  ^~~~\n" },
    { "unknown_kwarg_signature", 67,
        "model m(x: f32[784]) -> f32[10] { x -> dense(10, activation = 1) }\n",
        "t.net:1:50: error: dense has no argument 'activation'; it takes dense(x, units, bias)\n"
        "    1 | model m(x: f32[784]) -> f32[10] { x -> dense(10, activation = 1) }\n"
        "      |                                                  ^~~~~~~~~~\n" },
    { "arg_given_twice", 63,
        "model m(x: f32[784]) -> f32[10] { x -> dense(10, units = 10) }\n",
        "t.net:1:50: error: argument 'units' of dense is given twice\n"
        "    1 | model m(x: f32[784]) -> f32[10] { x -> dense(10, units = 10) }\n"
        "      |                                                  ^~~~~~~~~~\n"
        "t.net:1:46: note: 'units' is given here; remove one of them\n"
        "    1 | model m(x: f32[784]) -> f32[10] { x -> dense(10, units = 10) }\n"
        "      |                                              ^~\n" },
    { "missing_required", 47,
        "model m(x: f32[784]) -> f32[10] { x -> dense }\n",
        "t.net:1:40: error: dense needs argument 'units' (an integer); it takes dense(x, units, bias)\n"
        "    1 | model m(x: f32[784]) -> f32[10] { x -> dense }\n"
        "      |                                        ^~~~~\n" },
    { "wrong_kind_string", 54,
        "model m(x: f32[784]) -> f32[10] { x -> dense(\"ten\") }\n",
        "t.net:1:46: error: argument 'units' of dense expects an integer, got the string \"ten\"\n"
        "    1 | model m(x: f32[784]) -> f32[10] { x -> dense(\"ten\") }\n"
        "      |                                              ^~~~~\n" },
    { "wrong_kind_float", 53,
        "model m(x: f32[784]) -> f32[10] { x -> dense(10.5) }\n",
        "t.net:1:46: error: argument 'units' of dense expects an integer, got the number 10.5; dimensions and counts are whole numbers\n"
        "    1 | model m(x: f32[784]) -> f32[10] { x -> dense(10.5) }\n"
        "      |                                              ^~~~\n" },
    { "int_overflow", 88,
        "const BIG = 9223372036854775807\n"
        "model m(x: f32[784]) -> f32[10] { x -> dense(BIG * 2) }\n",
        "t.net:2:46: error: integer overflow: 9223372036854775807 * 2 does not fit in 64 bits\n"
        "    2 | model m(x: f32[784]) -> f32[10] { x -> dense(BIG * 2) }\n"
        "      |                                              ^~~~~~~\n" },
    { "dim_too_large", 58,
        "model m(x: f32[4000000000]) -> f32[10] { x -> dense(10) }\n",
        "t.net:1:16: error: a dimension must be between 1 and 2147483647, got 4000000000\n"
        "    1 | model m(x: f32[4000000000]) -> f32[10] { x -> dense(10) }\n"
        "      |                ^~~~~~~~~~\n" },
    { "dim_zero", 61,
        "const N = 0\n"
        "model m(x: f32[N]) -> f32[10] { x -> dense(10) }\n",
        "t.net:2:16: error: a dimension must be between 1 and 2147483647, got 0\n"
        "    2 | model m(x: f32[N]) -> f32[10] { x -> dense(10) }\n"
        "      |                ^\n" },
    { "dim_fraction", 55,
        "model m(x: f32[784 / 5]) -> f32[10] { x -> dense(10) }\n",
        "t.net:1:16: error: a dimension must be an integer, got the number 156.8\n"
        "    1 | model m(x: f32[784 / 5]) -> f32[10] { x -> dense(10) }\n"
        "      |                ^~~~~~~\n" },
    { "units_zero", 50,
        "model m(x: f32[784]) -> f32[10] { x -> dense(0) }\n",
        "t.net:1:40: error: dense(0): 'units' must be at least 1, got 0\n"
        "    1 | model m(x: f32[784]) -> f32[10] { x -> dense(0) }\n"
        "      |                                        ^~~~~~~~\n" },
    { "no_result_let", 59,
        "model m(x: f32[784]) -> f32[10] {\n"
        "    y = x -> dense(10)\n"
        "}\n",
        "t.net:1:7: error: model 'm' produces no result; its last statement binds 'y', end the body with 'y' or 'return ...'\n"
        "    1 | model m(x: f32[784]) -> f32[10] {\n"
        "      |       ^\n" },
    { "no_result_empty", 36,
        "model m(x: f32[784]) -> f32[10] { }\n",
        "t.net:1:7: error: model 'm' produces no result; end its body with an expression or 'return ...'\n"
        "    1 | model m(x: f32[784]) -> f32[10] { }\n"
        "      |       ^\n" },
    { "layer_recursion", 83,
        "layer loop(x: f32[N]) { x -> loop }\n"
        "model m(x: f32[784]) -> f32[784] { x -> loop }\n",
        "t.net:1:30: error: layer 'loop' calls itself; a network has a fixed depth (use repeat N)\n"
        "    1 | layer loop(x: f32[N]) { x -> loop }\n"
        "      |                              ^~~~\n"
        "t.net:2:41: note: in layer 'loop' called here\n"
        "    2 | model m(x: f32[784]) -> f32[784] { x -> loop }\n"
        "      |                                         ^~~~\n" },
    { "repeat_zero", 59,
        "model m(x: f32[10]) -> f32[10] { x -> repeat 0 dense(10) }\n",
        "t.net:1:46: error: repeat count must be an integer from 1 to 4096, got the integer 0\n"
        "    1 | model m(x: f32[10]) -> f32[10] { x -> repeat 0 dense(10) }\n"
        "      |                                              ^\n" },
    { "repeat_float", 56,
        "model m(x: f32[10]) -> f32[10] { x -> repeat 2.5 relu }\n",
        "t.net:1:46: error: repeat count must be an integer from 1 to 4096, got the number 2.5\n"
        "    1 | model m(x: f32[10]) -> f32[10] { x -> repeat 2.5 relu }\n"
        "      |                                              ^~~\n" },
    { "repeat_nested", 63,
        "model m(x: f32[10]) -> f32[10] { x -> repeat 2 repeat 2 relu }\n",
        "t.net:1:48: error: nested repeat; wrap the inner one in a layer\n"
        "    1 | model m(x: f32[10]) -> f32[10] { x -> repeat 2 repeat 2 relu }\n"
        "      |                                                ^~~~~~~~~~~~~\n" },
    { "repeat_statement", 53,
        "model m(x: f32[10]) -> f32[10] {\n"
        "    repeat 2 relu\n"
        "}\n",
        "t.net:2:5: error: unexpected token 'repeat'; repeat is a chain stage: x -> repeat N layer(...)\n"
        "    2 |     repeat 2 relu\n"
        "      |     ^~~~~~\n" },
    { "real_outside_step", 54,
        "model m(x: f32[784]) -> f32[10] { real -> dense(10) }\n",
        "t.net:1:35: error: 'real' exists only in the loss of a train step, as in step D { loss bce(D(real), 1) }\n"
        "    1 | model m(x: f32[784]) -> f32[10] { real -> dense(10) }\n"
        "      |                                   ^~~~\n" },
    { "model_call_in_model", 92,
        "model m(x: f32[784]) -> f32[10] { x -> dense(10) }\n"
        "model n(x: f32[784]) -> f32[10] { m(x) }\n",
        "t.net:2:35: error: model 'm' cannot be called here; models are called only in train-step losses (to share layers, declare them with 'layer')\n"
        "    2 | model n(x: f32[784]) -> f32[10] { m(x) }\n"
        "      |                                   ^\n" },
    { "noise_without_source", 128,
        "model G(z: f32[4]) -> f32[4] { z -> dense(4) }\n"
        "train g {\n"
        "    data raw(\"a.bin\", size = 4)\n"
        "    step G { loss mse(G(noise), 0) }\n"
        "}\n",
        "t.net:4:25: error: this train block has no noise source; add e.g. 'noise normal(64)'\n"
        "    4 |     step G { loss mse(G(noise), 0) }\n"
        "      |                         ^~~~~\n" },
    { "bad_optimizer", 128,
        "model m(x: f32[784]) -> f32[10] { x -> dense(10) }\n"
        "train m { data idx(\"a\", \"b\") loss cross_entropy optimizer adamm(lr = 1e-3) }\n",
        "t.net:2:59: error: unknown optimizer 'adamm'; did you mean 'adam'?\n"
        "    2 | train m { data idx(\"a\", \"b\") loss cross_entropy optimizer adamm(lr = 1e-3) }\n"
        "      |                                                           ^~~~~\n" },
    { "bad_optimizer_list", 116,
        "model m(x: f32[784]) -> f32[10] { x -> dense(10) }\n"
        "train m { data idx(\"a\", \"b\") loss cross_entropy optimizer lion }\n",
        "t.net:2:59: error: unknown optimizer 'lion'; use sgd, adam, adamw or rmsprop\n"
        "    2 | train m { data idx(\"a\", \"b\") loss cross_entropy optimizer lion }\n"
        "      |                                                           ^~~~\n" },
    { "bad_data_source", 102,
        "model m(x: f32[784]) -> f32[10] { x -> dense(10) }\n"
        "train m { data idxx(\"a\", \"b\") loss cross_entropy }\n",
        "t.net:2:16: error: unknown data source 'idxx'; did you mean 'idx'?\n"
        "    2 | train m { data idxx(\"a\", \"b\") loss cross_entropy }\n"
        "      |                ^~~~\n" },
    { "bad_schedule", 118,
        "model m(x: f32[784]) -> f32[10] { x -> dense(10) }\n"
        "train m { data idx(\"a\", \"b\") loss cross_entropy schedule cosinus }\n",
        "t.net:2:58: error: unknown schedule 'cosinus'; did you mean 'cosine'?\n"
        "    2 | train m { data idx(\"a\", \"b\") loss cross_entropy schedule cosinus }\n"
        "      |                                                          ^~~~~~~\n" },
    { "epochs_and_steps", 120,
        "model m(x: f32[784]) -> f32[10] { x -> dense(10) }\n"
        "train m { data idx(\"a\", \"b\") loss cross_entropy epochs 2 steps 100 }\n",
        "t.net:2:58: error: give either 'epochs' or 'steps', not both\n"
        "    2 | train m { data idx(\"a\", \"b\") loss cross_entropy epochs 2 steps 100 }\n"
        "      |                                                          ^~~~~\n"
        "t.net:2:49: note: 'epochs' given here\n"
        "    2 | train m { data idx(\"a\", \"b\") loss cross_entropy epochs 2 steps 100 }\n"
        "      |                                                 ^~~~~~\n" },
    { "attention_heads", 61,
        "model m(x: f32[16, 30]) -> f32[16, 30] { x -> attention(4) }\n",
        "t.net:1:47: error: attention(4): the width 30 is not divisible by 4 heads; use a head count that divides 30\n"
        "    1 | model m(x: f32[16, 30]) -> f32[16, 30] { x -> attention(4) }\n"
        "      |                                               ^~~~~~~~~~~~\n" },
    { "reshape_mismatch", 84,
        "model m(x: f32[784]) -> f32[10] { x -> reshape(3, 28, 28) -> flatten -> dense(10) }\n",
        "t.net:1:40: error: reshape(3, 28, 28): the new shape has 2352 elements but f32[784] has 784\n"
        "    1 | model m(x: f32[784]) -> f32[10] { x -> reshape(3, 28, 28) -> flatten -> dense(10) }\n"
        "      |                                        ^~~~~~~~~~~~~~~~~~\n" },
    { "reshape_infer", 80,
        "model m(x: f32[784]) -> f32[10] { x -> reshape(-1, 5) -> flatten -> dense(10) }\n",
        "t.net:1:40: error: reshape(-1, 5): cannot infer the -1 dimension: 784 elements of f32[784] are not divisible by 5\n"
        "    1 | model m(x: f32[784]) -> f32[10] { x -> reshape(-1, 5) -> flatten -> dense(10) }\n"
        "      |                                        ^~~~~~~~~~~~~~\n" },
    { "concat_mismatch", 77,
        "model m(x: f32[4, 8], y: f32[5, 8]) -> f32[4, 16] { concat(x, y, axis = 1) }\n",
        "t.net:1:53: error: concat(x, y, axis = 1): input 2 is f32[5, 8] and input 1 is f32[4, 8]; they must agree in every dimension but axis 1\n"
        "    1 | model m(x: f32[4, 8], y: f32[5, 8]) -> f32[4, 16] { concat(x, y, axis = 1) }\n"
        "      |                                                     ^~~~~~~~~~~~~~~~~~~~~~\n" },
    { "concat_axis_range", 77,
        "model m(x: f32[4, 8], y: f32[4, 8]) -> f32[4, 16] { concat(x, y, axis = 2) }\n",
        "t.net:1:53: error: concat(x, y, axis = 2): axis 2 is out of range for f32[4, 8]\n"
        "    1 | model m(x: f32[4, 8], y: f32[4, 8]) -> f32[4, 16] { concat(x, y, axis = 2) }\n"
        "      |                                                     ^~~~~~~~~~~~~~~~~~~~~~\n" },
    { "cross_entropy_f32_labels", 65,
        "model m(x: f32[10], y: f32[10]) -> f32[] { cross_entropy(x, y) }\n",
        "t.net:1:44: error: cross_entropy(x, y) expects class labels i32, got f32[10]; use mse or bce for real-valued targets\n"
        "    1 | model m(x: f32[10], y: f32[10]) -> f32[] { cross_entropy(x, y) }\n"
        "      |                                            ^~~~~~~~~~~~~~~~~~~\n" },
    { "missing_paren", 54,
        "model m(x: f32[784]) -> f32[10] {\n"
        "    x -> dense(10\n"
        "}\n",
        "t.net:3:1: error: expected ')' before '}'\n"
        "    3 | }\n"
        "      | ^\n" },
    { "extra_paren", 52,
        "model m(x: f32[784]) -> f32[10] { x -> dense(10)) }\n",
        "t.net:1:49: error: unexpected token ')'\n"
        "    1 | model m(x: f32[784]) -> f32[10] { x -> dense(10)) }\n"
        "      |                                                 ^\n" },
    { "unexpected_arrow", 54,
        "model m(x: f32[784]) -> f32[10] { x -> -> dense(10) }\n",
        "t.net:1:40: error: expected identifier or 'repeat' before '->'\n"
        "    1 | model m(x: f32[784]) -> f32[10] { x -> -> dense(10) }\n"
        "      |                                        ^~\n" },
    { "unterminated_string", 86,
        "model m(x: f32[784]) -> f32[10] { x -> dense(10) }\n"
        "train m {\n"
        "    data idx(\"train.gz\n"
        "}\n",
        "t.net:3:14: error: missing terminating '\"' character\n"
        "    3 |     data idx(\"train.gz\n"
        "      |              ^\n"
        "t.net:4:1: error: expected ')' before '}'\n"
        "    4 | }\n"
        "      | ^\n" },
    { "bad_escape", 106,
        "model m(x: f32[784]) -> f32[10] { x -> dense(10) }\n"
        "train m { data idx(\"a\\q.gz\", \"b\") loss cross_entropy }\n",
        "t.net:2:22: error: unknown escape sequence '\\q'; use \\\\ for a backslash\n"
        "    2 | train m { data idx(\"a\\q.gz\", \"b\") loss cross_entropy }\n"
        "      |                      ^~\n" },
    { "unexpected_char", 53,
        "model m(x: f32[784]) -> f32[10] { x -> dense(10) $ }\n",
        "t.net:1:50: error: unexpected character '$'\n"
        "    1 | model m(x: f32[784]) -> f32[10] { x -> dense(10) $ }\n"
        "      |                                                  ^\n" },
    { "control_char", 52,
        "model m(x: f32[784]) -> f32[10] {\001 x -> dense(10) }\n",
        "t.net:1:34: error: unexpected control character 0x01\n"
        "    1 | model m(x: f32[784]) -> f32[10] {  x -> dense(10) }\n"
        "      |                                  ^\n" },
    { "invalid_utf8_code", 53,
        "model m(x: f32[784]) -> f32[10] { x \377\376-> dense(10) }\n",
        "t.net:1:37: error: invalid UTF-8 (byte 0xff) and more; .net files are UTF-8 text\n"
        "    1 | model m(x: f32[784]) -> f32[10] { x \377\376-> dense(10) }\n"
        "      |                                     ^~\n" },
    { "non_ascii_char", 52,
        "model m(x: f32[784]) -> f32[10] { x \342\206\222 dense(10) }\n",
        "t.net:1:37: error: unexpected character '\342\206\222' in program text\n"
        "    1 | model m(x: f32[784]) -> f32[10] { x \342\206\222 dense(10) }\n"
        "      |                                     ^\n" },
    { "several_errors", 171,
        "model m(x: f32[784]) -> f32[10] {\n"
        "    x -> dense(10) -> relu6\n"
        "}\n"
        "model n(x: f32[0]) -> f32[10] { x -> dense(10) }\n"
        "train m { data idx(\"a\", \"b\") loss cross_entropy batch 0 }\n",
        "t.net:2:23: error: unknown layer 'relu6'; did you mean 'relu'?\n"
        "    2 |     x -> dense(10) -> relu6\n"
        "      |                       ^~~~~\n"
        "t.net:4:16: error: a dimension must be between 1 and 2147483647, got 0\n"
        "    4 | model n(x: f32[0]) -> f32[10] { x -> dense(10) }\n"
        "      |                ^\n"
        "t.net:5:55: error: 'batch' expects a positive integer, got the integer 0\n"
        "    5 | train m { data idx(\"a\", \"b\") loss cross_entropy batch 0 }\n"
        "      |                                                       ^\n" },
    { "end_of_input", 53,
        "model m(x: f32[784]) -> f32[10] {\n"
        "    x -> dense(10)\n",
        "t.net:2:19: error: unexpected end of input\n"
        "    2 |     x -> dense(10)\n"
        "      |                   ^\n"
        "t.net:1:33: note: this '{' is never closed\n"
        "    1 | model m(x: f32[784]) -> f32[10] {\n"
        "      |                                 ^\n" },
    { "broadcast_mismatch", 59,
        "model m(x: f32[4, 8], y: f32[3, 8]) -> f32[4, 8] { x + y }\n",
        "t.net:1:52: error: cannot add f32[4, 8] and f32[3, 8]: dimension 1 is 4 on the left and 3 on the right; shapes must match or be 1 to broadcast\n"
        "    1 | model m(x: f32[4, 8], y: f32[3, 8]) -> f32[4, 8] { x + y }\n"
        "      |                                                    ^~~~~\n" },
    { "unknown_type", 51,
        "model m(x: f33[784]) -> f32[10] { x -> dense(10) }\n",
        "t.net:1:12: error: unknown type 'f33'; did you mean 'f32'?\n"
        "    1 | model m(x: f33[784]) -> f32[10] { x -> dense(10) }\n"
        "      |            ^~~\n" },
    { "i32_into_dense", 50,
        "model m(x: i32[16]) -> f32[10] { x -> dense(10) }\n",
        "t.net:1:39: error: dense(10) expects a f32 tensor, got i32[16]; token ids go through embed first\n"
        "    1 | model m(x: i32[16]) -> f32[10] { x -> dense(10) }\n"
        "      |                                       ^~~~~~~~~\n" },
    { "unknown_name_suggest", 82,
        "model m(x: f32[784]) -> f32[10] {\n"
        "    hidden = x -> dense(10)\n"
        "    hiden -> relu\n"
        "}\n",
        "t.net:3:5: error: unknown name 'hiden'; did you mean 'hidden'?\n"
        "    3 |     hiden -> relu\n"
        "      |     ^~~~~\n" },
    { "layer_input_mismatch", 96,
        "layer proj(x: f32[T, 64]) { x -> dense(64) }\n"
        "model m(x: f32[8, 32]) -> f32[8, 64] { x -> proj }\n",
        "t.net:2:40: error: proj's 'x' expects f32[T, 64], got f32[8, 32]\n"
        "    2 | model m(x: f32[8, 32]) -> f32[8, 64] { x -> proj }\n"
        "      |                                        ^\n"
        "t.net:1:12: note: 'x' declared here\n"
        "    1 | layer proj(x: f32[T, 64]) { x -> dense(64) }\n"
        "      |            ^~~~~~~~~~~~~\n" },
    { "layer_dim_is_a_const", 93,
        "const W = 16\n"
        "layer blk(x: f32[C, W]) { x }\n"
        "model m(x: f32[4, 28]) -> f32[4, 28] { x -> blk }\n",
        "t.net:3:40: error: blk's 'x' expects f32[C, W] with W = 16, got f32[4, 28]\n"
        "    3 | model m(x: f32[4, 28]) -> f32[4, 28] { x -> blk }\n"
        "      |                                        ^\n"
        "t.net:1:7: note: 'W' is this const; rename the dimension in the layer's type to let it take any size\n"
        "    1 | const W = 16\n"
        "      |       ^\n"
        "t.net:2:11: note: 'x' declared here\n"
        "    2 | layer blk(x: f32[C, W]) { x }\n"
        "      |           ^~~~~~~~~~~~\n" },
    { "newline_joins_statements", 54,
        "model m(x: f32[4]) -> f32[4] {\n"
        "    y = x * 2\n"
        "    -y\n"
        "}\n",
        "t.net:3:5: warning: this '-' on a new line subtracts from the expression on the line above; end that line with ';' if a new statement starts here\n"
        "    3 |     -y\n"
        "      |     ^\n"
        "t.net:3:6: error: unknown name 'y'\n"
        "    3 |     -y\n"
        "      |      ^\n" },
    { "dropout_rate", 55,
        "model m(x: f32[784]) -> f32[784] { x -> dropout(1.5) }\n",
        "t.net:1:41: error: dropout(1.5): rate must be in [0, 1), got 1.5\n"
        "    1 | model m(x: f32[784]) -> f32[784] { x -> dropout(1.5) }\n"
        "      |                                         ^~~~~~~~~~~~\n" },
    { "train_no_model", 102,
        "model m(x: f32[784]) -> f32[10] { x -> dense(10) }\n"
        "train mm { data idx(\"a\", \"b\") loss cross_entropy }\n",
        "t.net:2:7: error: train block names no model 'mm'; did you mean 'm'?\n"
        "    2 | train mm { data idx(\"a\", \"b\") loss cross_entropy }\n"
        "      |       ^~\n" },
    { "train_no_data", 82,
        "model m(x: f32[784]) -> f32[10] { x -> dense(10) }\n"
        "train m { loss cross_entropy }\n",
        "t.net:2:7: error: train block 'm' has no 'data'; add e.g. data idx(\"train-images-idx3-ubyte.gz\", \"train-labels-idx1-ubyte.gz\")\n"
        "    2 | train m { loss cross_entropy }\n"
        "      |       ^\n" },
    { "train_no_loss", 82,
        "model m(x: f32[784]) -> f32[10] { x -> dense(10) }\n"
        "train m { data idx(\"a\", \"b\") }\n",
        "t.net:2:7: error: train block 'm' has no 'loss'; add e.g. loss cross_entropy\n"
        "    2 | train m { data idx(\"a\", \"b\") }\n"
        "      |       ^\n" },
    { "batch_zero", 109,
        "model m(x: f32[784]) -> f32[10] { x -> dense(10) }\n"
        "train m { data idx(\"a\", \"b\") loss cross_entropy batch 0 }\n",
        "t.net:2:55: error: 'batch' expects a positive integer, got the integer 0\n"
        "    2 | train m { data idx(\"a\", \"b\") loss cross_entropy batch 0 }\n"
        "      |                                                       ^\n" },
    { "duplicate_train_key", 123,
        "model m(x: f32[784]) -> f32[10] { x -> dense(10) }\n"
        "train m { data idx(\"a\", \"b\") loss cross_entropy batch 32\n"
        "    batch 64 }\n",
        "t.net:3:5: error: duplicate key 'batch' in train block\n"
        "    3 |     batch 64 }\n"
        "      |     ^~~~~\n"
        "t.net:2:49: note: first given here\n"
        "    2 | train m { data idx(\"a\", \"b\") loss cross_entropy batch 32\n"
        "      |                                                 ^~~~~\n" },
    { "step_unknown_key", 142,
        "model G(z: f32[4]) -> f32[4] { z -> dense(4) }\n"
        "train g {\n"
        "    data raw(\"a.bin\", size = 4)\n"
        "    step G { loss mse(G(real), 0) optimiser adam }\n"
        "}\n",
        "t.net:4:35: error: unknown key 'optimiser' in step block; did you mean 'optimizer'?\n"
        "    4 |     step G { loss mse(G(real), 0) optimiser adam }\n"
        "      |                                   ^~~~~~~~~\n" },
    { "tensor_as_stage", 57,
        "model m(x: f32[784], y: f32[784]) -> f32[784] { x -> y }\n",
        "t.net:1:54: error: 'y' is a tensor, not a layer; a chain stage must be a layer such as relu or dense(10)\n"
        "    1 | model m(x: f32[784], y: f32[784]) -> f32[784] { x -> y }\n"
        "      |                                                      ^\n" },
    { "layer_as_value", 49,
        "model m(x: f32[784]) -> f32[784] { y = relu\n"
        " x }\n",
        "t.net:1:40: error: 'relu' is a layer; call it as relu(x) or put it in a chain: x -> relu\n"
        "    1 | model m(x: f32[784]) -> f32[784] { y = relu\n"
        "      |                                        ^~~~\n" },
    { "const_redefinition", 75,
        "const N = 4\n"
        "const N = 5\n"
        "model m(x: f32[784]) -> f32[10] { x -> dense(10) }\n",
        "t.net:2:7: error: redefinition of 'N'\n"
        "    2 | const N = 5\n"
        "      |       ^\n"
        "t.net:1:7: note: previous definition here\n"
        "    1 | const N = 4\n"
        "      |       ^\n" },
    { "model_no_inputs", 25,
        "model m() -> f32[10] { }\n",
        "t.net:1:7: error: model 'm' has no inputs; declare one such as (x: f32[784])\n"
        "    1 | model m() -> f32[10] { }\n"
        "      |       ^\n" },
    { "kernel_too_large", 63,
        "model m(x: f32[1, 4, 4]) -> f32[8, 1, 1] { x -> conv2d(8, 5) }\n",
        "t.net:1:49: error: conv2d(8, 5): the kernel (5) is larger than the input (4); use a smaller kernel or padding\n"
        "    1 | model m(x: f32[1, 4, 4]) -> f32[8, 1, 1] { x -> conv2d(8, 5) }\n"
        "      |                                                 ^~~~~~~~~~~~\n" },
    { "embed_f32", 57,
        "model m(x: f32[16]) -> f32[16, 8] { x -> embed(100, 8) }\n",
        "t.net:1:42: error: embed(100, 8) expects token ids i32[T], got f32[16]\n"
        "    1 | model m(x: f32[16]) -> f32[16, 8] { x -> embed(100, 8) }\n"
        "      |                                          ^~~~~~~~~~~~~\n" },
    { "integer_literal_too_large", 69,
        "model m(x: f32[784]) -> f32[10] { x -> dense(99999999999999999999) }\n",
        "t.net:1:46: error: integer literal is too large (the limit is 9223372036854775807)\n"
        "    1 | model m(x: f32[784]) -> f32[10] { x -> dense(99999999999999999999) }\n"
        "      |                                              ^~~~~~~~~~~~~~~~~~~~\n" },
    { "expected_colon", 50,
        "model m(x f32[784]) -> f32[10] { x -> dense(10) }\n",
        "t.net:1:11: error: expected ':' before 'f32'\n"
        "    1 | model m(x f32[784]) -> f32[10] { x -> dense(10) }\n"
        "      |           ^~~\n" },
    { "stride_warning", 91,
        "model m(x: f32[1, 28, 28]) -> f32[4, 3, 3] { x -> conv2d(4, 3, stride = 3) -> maxpool(3) }\n",
        "t.net:1:51: warning: conv2d(4, 3, stride = 3): at stride 3 the windows stop 1 row short of the input's 28, so the last row and column are ignored (pad the input or change the stride)\n"
        "    1 | model m(x: f32[1, 28, 28]) -> f32[4, 3, 3] { x -> conv2d(4, 3, stride = 3) -> maxpool(3) }\n"
        "      |                                                   ^~~~~~~~~~~~~~~~~~~~~~~~\n" },
    { "pool_on_flat", 53,
        "model m(x: f32[784]) -> f32[392] { x -> maxpool(2) }\n",
        "t.net:1:41: error: maxpool(2) expects an image f32[C, H, W], got f32[784]; pooling works on images\n"
        "    1 | model m(x: f32[784]) -> f32[392] { x -> maxpool(2) }\n"
        "      |                                         ^~~~~~~~~~\n" },
    { "mse_shape", 54,
        "model m(x: f32[10], y: f32[5]) -> f32[] { mse(x, y) }\n",
        "t.net:1:43: error: mse(x, y): the prediction is f32[10] but the target is f32[5]; they must have one shape\n"
        "    1 | model m(x: f32[10], y: f32[5]) -> f32[] { mse(x, y) }\n"
        "      |                                           ^~~~~~~~~\n" },
    { "divide_tensors", 53,
        "model m(x: f32[10], y: f32[10]) -> f32[10] { x / y }\n",
        "t.net:1:46: error: dividing a tensor by a tensor is not supported; multiply by a number instead\n"
        "    1 | model m(x: f32[10], y: f32[10]) -> f32[10] { x / y }\n"
        "      |                                              ^~~~~\n" },
    { "division_by_zero", 47,
        "model m(x: f32[10]) -> f32[10] { x * (1 / 0) }\n",
        "t.net:1:39: error: division by zero\n"
        "    1 | model m(x: f32[10]) -> f32[10] { x * (1 / 0) }\n"
        "      |                                       ^~~~~\n" },
    { "unknown_step_model", 127,
        "model G(z: f32[4]) -> f32[4] { z -> dense(4) }\n"
        "train g {\n"
        "    data raw(\"a.bin\", size = 4)\n"
        "    step H { loss mse(G(real), 0) }\n"
        "}\n",
        "t.net:4:10: error: step names no model 'H'\n"
        "    4 |     step H { loss mse(G(real), 0) }\n"
        "      |          ^\n" },
    { "loss_with_steps", 140,
        "model G(z: f32[4]) -> f32[4] { z -> dense(4) }\n"
        "train g {\n"
        "    data raw(\"a.bin\", size = 4)\n"
        "    loss mse\n"
        "    step G { loss mse(G(real), 0) }\n"
        "}\n",
        "t.net:4:5: error: with step blocks, each step has its own 'loss'; move it into a step\n"
        "    4 |     loss mse\n"
        "      |     ^~~~\n" },
    { "lr_not_positive", 123,
        "model m(x: f32[784]) -> f32[10] { x -> dense(10) }\n"
        "train m { data idx(\"a\", \"b\") loss cross_entropy optimizer sgd(lr = 0) }\n",
        "t.net:2:68: error: the learning rate must be positive, got 0\n"
        "    2 | ... { data idx(\"a\", \"b\") loss cross_entropy optimizer sgd(lr = 0) }\n"
        "      |                                                                ^\n" },
    { "groups_divide", 75,
        "model m(x: f32[6, 8, 8]) -> f32[4, 6, 6] { x -> conv2d(4, 3, groups = 4) }\n",
        "t.net:1:49: error: conv2d(4, 3, groups = 4): groups=4 must divide both the input channels (6) and the filters (4)\n"
        "    1 | model m(x: f32[6, 8, 8]) -> f32[4, 6, 6] { x -> conv2d(4, 3, groups = 4) }\n"
        "      |                                                 ^~~~~~~~~~~~~~~~~~~~~~~~\n" },
    { "nesting_too_deep", 1295,
        "model m(x: f32[4]) -> f32[4] { relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(x)))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))))) }\n",
        "t.net:1:82: error: expression is nested more than 200 levels deep; split it with let-bindings\n"
        "    1 | ... f32[4] { relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(relu(...\n"
        "      |                                                                ^~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~\n" },
    { "rnn_on_flat", 68,
        "model m(x: f32[32]) -> f32[16] { x -> lstm(16, sequences = false) }\n",
        "t.net:1:39: error: lstm(16, sequences = false) expects a sequence f32[T, D], got f32[32]; make it a sequence with reshape(T, D) first\n"
        "    1 | model m(x: f32[32]) -> f32[16] { x -> lstm(16, sequences = false) }\n"
        "      |                                       ^~~~~~~~~~~~~~~~~~~~~~~~~~~\n" },
    { "arg_given_twice_chain", 79,
        "model m(x: f32[784], y: f32[784]) -> f32[10] { x -> dense(x = y, units = 10) }\n",
        "t.net:1:59: error: argument 'x' of dense is given twice\n"
        "    1 | model m(x: f32[784], y: f32[784]) -> f32[10] { x -> dense(x = y, units = 10) }\n"
        "      |                                                           ^~~~~\n"
        "t.net:1:48: note: 'x' is the chain's input here\n"
        "    1 | model m(x: f32[784], y: f32[784]) -> f32[10] { x -> dense(x = y, units = 10) }\n"
        "      |                                                ^\n" },
    { "identifier_too_long", 342,
        "model m(x: f32[784]) -> f32[10] { x -> aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa }\n",
        "t.net:1:40: error: identifier is 300 characters long; names are limited to 255\n"
        "    1 | model m(x: f32[784]) -> f32[10] { x -> aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\n"
        "      |                                        ^~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~\n" },
    { "nul_byte", 52,
        "model m(x: f32[784]) -> f32[10] {\000 x -> dense(10) }\n",
        "t.net:1:34: error: NUL byte in source file\n"
        "    1 | model m(x: f32[784]) -> f32[10] {  x -> dense(10) }\n"
        "      |                                  ^\n" },
    { "nul_in_comment", 70,
        "# a comment \000 here\n"
        "model m(x: f32[784]) -> f32[10] { x -> dense(10) }\n",
        "t.net:1:13: error: NUL byte in source file\n"
        "    1 | # a comment   here\n"
        "      |             ^\n" },
    { "bad_utf8_in_string", 103,
        "model m(x: f32[784]) -> f32[10] { x -> dense(10) }\n"
        "train m { data idx(\"a\303(\", \"b\") loss cross_entropy }\n",
        "t.net:2:22: error: invalid UTF-8 (byte 0xc3); .net files are UTF-8 text\n"
        "    2 | train m { data idx(\"a\303(\", \"b\") loss cross_entropy }\n"
        "      |                      ^\n" },
    { "layer_return_mismatch", 97,
        "layer half(x: f32[N]) -> f32[N] { x -> dense(N / 2) }\n"
        "model m(x: f32[8]) -> f32[4] { x -> half }\n",
        "t.net:2:37: error: layer 'half' should return f32[N] with N = 8, but its body produces f32[4]\n"
        "    2 | model m(x: f32[8]) -> f32[4] { x -> half }\n"
        "      |                                     ^~~~\n"
        "t.net:1:26: note: return type declared here\n"
        "    1 | layer half(x: f32[N]) -> f32[N] { x -> dense(N / 2) }\n"
        "      |                          ^~~~~~\n" },
    { "not_a_loss", 119,
        "model G(z: f32[4]) -> f32[4] { z -> dense(4) }\n"
        "train g {\n"
        "    data raw(\"a.bin\", size = 4)\n"
        "    step G { loss G(real) }\n"
        "}\n",
        "t.net:4:19: error: a loss must be one number per sample, got a tensor f32[4]; use a loss such as bce(...) or mse(...)\n"
        "    4 |     step G { loss G(real) }\n"
        "      |                   ^~~~~~~\n" },
    { "cross_entropy_on_raw", 106,
        "model m(x: f32[4]) -> f32[3] { x -> dense(3) }\n"
        "train m { data raw(\"a.bin\", size = 4) loss cross_entropy }\n",
        "t.net:2:16: error: the cross_entropy loss needs labels, but this data source has none; raw files hold no labels: use idx(images, labels) or csv(path, label_column = 0)\n"
        "    2 | train m { data raw(\"a.bin\", size = 4) loss cross_entropy }\n"
        "      |                ^~~~~~~~~~~~~~~~~~~~~~\n" },
    { "val_fraction_out_of_range", 136,
        "model m(x: f32[4]) -> f32[3] { x -> dense(3) }\n"
        "train m {\n"
        "    data csv(\"a.csv\", label_column = 4)\n"
        "    loss cross_entropy\n"
        "    val = 1.5\n"
        "}\n",
        "t.net:5:11: error: 'val' expects a fraction of the data to hold out, between 0 and 1 (val = 0.1), or a data source (val idx(\"images.gz\", \"labels.gz\")); got the number 1.5\n"
        "    5 |     val = 1.5\n"
        "      |           ^~~\n" },
    { "stop_after_without_val", 139,
        "model m(x: f32[4]) -> f32[3] { x -> dense(3) }\n"
        "train m {\n"
        "    data csv(\"a.csv\", label_column = 4)\n"
        "    loss cross_entropy\n"
        "    stop_after 3\n"
        "}\n",
        "t.net:5:5: error: 'stop_after' watches the validation figures, but this train block has no 'val'; add val = 0.1 (a held-out tenth of the data) or val idx(...)/csv(...)\n"
        "    5 |     stop_after 3\n"
        "      |     ^~~~~~~~~~\n" },
    { "monitor_unknown", 156,
        "model m(x: f32[4]) -> f32[3] { x -> dense(3) }\n"
        "train m {\n"
        "    data csv(\"a.csv\", label_column = 4)\n"
        "    loss cross_entropy\n"
        "    val = 0.1\n"
        "    monitor val_acc\n"
        "}\n",
        "t.net:6:13: error: 'monitor' expects val_loss or val_accuracy\n"
        "    6 |     monitor val_acc\n"
        "      |             ^~~~~~~\n" },
    { "val_accuracy_for_mse", 176,
        "model m(x: f32[4]) -> f32[1] { x -> dense(1) }\n"
        "train m {\n"
        "    data csv(\"a.csv\", label_column = 4)\n"
        "    loss mse\n"
        "    val csv(\"v.csv\", label_column = 4)\n"
        "    monitor val_accuracy\n"
        "}\n",
        "t.net:6:13: error: val_accuracy needs a cross_entropy or bce loss; an mse model is monitored by val_loss\n"
        "    6 |     monitor val_accuracy\n"
        "      |             ^~~~~~~~~~~~\n" },
};

enum { NCASES = sizeof cases / sizeof cases[0] };

/* One case: the whole text must match, and the compilation must fail
 * exactly when an error is among the diagnostics. */
START_TEST(test_pinned)
{
    const DiagCase *k = &cases[_i];
    FeRun r;
    fe_open_n(&r, k->src, k->len, FE_FRONT);
    ck_assert_msg(strcmp(r.out, k->want) == 0, "case %s:\n--- want\n%s--- got\n%s", k->name, k->want, r.out);
    bool has_error = strstr(k->want, ": error: ") != NULL;
    ck_assert_msg(r.ok == !has_error, "case %s: ok=%d", k->name, r.ok);
    ck_assert_int_eq(r.c.diag.errors > 0, has_error);
    fe_close(&r);
}
END_TEST

/* Messages are the headline: at least 50 of them pinned here. */
START_TEST(test_enough_cases)
{
    ck_assert_int_ge(NCASES, 50);
    for (int i = 0; i < NCASES; i++)
        for (int j = 0; j < i; j++)
            ck_assert_msg(strcmp(cases[i].name, cases[j].name) != 0, "case %s twice", cases[i].name);
}
END_TEST

/* 25 unknown layers: 20 reported, then one line saying the rest are not. */
START_TEST(test_error_limit)
{
    char src[4096];
    size_t n = (size_t)snprintf(src, sizeof src, "model m(x: f32[4]) -> f32[4] {\n");
    for (int i = 0; i < 25; i++)
        n += (size_t)snprintf(src + n, sizeof src - n, "    x -> nope%d\n", i);
    snprintf(src + n, sizeof src - n, "}\n");
    FeRun r;
    fe_open(&r, src);
    ck_assert(!r.ok);
    ck_assert_int_eq(r.c.diag.errors, 25);
    int shown = 0;
    for (const char *p = r.out; (p = strstr(p, ": error: ")); p++)
        shown++;
    ck_assert_int_eq(shown, 20);
    const char *tail =
        "t.net:21:10: error: unknown layer 'nope19'; define it with 'layer nope19(x: f32[N]) { ... }'\n"
        "   21 |     x -> nope19\n"
        "      |          ^~~~~~\n"
        "t.net: too many errors; stopping after 20\n";
    size_t tl = strlen(tail);
    ck_assert_msg(r.len >= tl && strcmp(r.out + r.len - tl, tail) == 0, "tail:\n%s", r.out);
    fe_close(&r);
}
END_TEST

/* Notes after the limit are dropped with their error. */
START_TEST(test_error_limit_drops_notes)
{
    char src[8192];
    size_t n = (size_t)snprintf(src, sizeof src, "model m(x: f32[4]) -> f32[4] {\n    x -> a: relu -> a: relu");
    for (int i = 0; i < 24; i++)
        n += (size_t)snprintf(src + n, sizeof src - n, " -> a: relu");
    snprintf(src + n, sizeof src - n, "\n}\n");
    FeRun r;
    fe_open(&r, src);
    int errors = 0, notes = 0;
    for (const char *p = r.out; (p = strstr(p, ": error: ")); p++)
        errors++;
    for (const char *p = r.out; (p = strstr(p, ": note: ")); p++)
        notes++;
    ck_assert_int_eq(errors, 20);
    ck_assert_int_eq(notes, 19); /* the 20th error's note goes with the limit line */
    fe_close(&r);
}
END_TEST

/* The command prints the same text on stderr, a count, and exits 1. */
START_TEST(test_cli_footer)
{
    const char *src = "model m(x: f32[784]) -> f32[10] {\n    x -> dense(10) -> relu6\n}\n";
    char *path = fe_temp_file(src, strlen(src));
    FeProc p;
    fe_netc_run(&p, "check", path, NULL, NULL);
    ck_assert_int_eq(fe_exit_code(&p), 1);
    ck_assert_str_eq(p.out, "");
    char want[1024];
    snprintf(want, sizeof want,
             "%s:2:23: error: unknown layer 'relu6'; did you mean 'relu'?\n"
             "    2 |     x -> dense(10) -> relu6\n"
             "      |                       ^~~~~\n"
             "1 error generated.\n", path);
    ck_assert_str_eq(p.err, want);
    fe_proc_free(&p);
    unlink(path);
    free(path);
}
END_TEST

/* What the code generator refuses, through `netc build`: a model whose
 * output is not f32 (it would be copied as raw bits into a float output). */
START_TEST(test_build_refuses_integer_output)
{
    const char *src = "model m(t: i32[4]) -> i32[4] { t }\n";
    char *path = fe_temp_file(src, strlen(src));
    FeProc p;
    char out[600];
    snprintf(out, sizeof out, "%s.out", path);
    fe_netc_run(&p, "build", path, "-o", out);
    ck_assert_int_eq(fe_exit_code(&p), 1);
    ck_assert_int_ne(access(out, F_OK), 0);
    char want[1024];
    snprintf(want, sizeof want,
             "%s:1:1: error: model 'm' returns i32[4]; built programs return floats: end the model with f32 values\n",
             path);
    ck_assert_msg(strncmp(p.err, want, strlen(want)) == 0, "got: %s", p.err);
    fe_proc_free(&p);
    unlink(path);
    free(path);
}
END_TEST

/* A warning alone does not fail the command. */
START_TEST(test_cli_warning_exit_zero)
{
    const char *src = "model m(x: f32[1, 28, 28]) -> f32[4, 3, 3] { x -> conv2d(4, 3, stride = 3) -> maxpool(3) }\n";
    char *path = fe_temp_file(src, strlen(src));
    FeProc p;
    fe_netc_run(&p, "check", path, NULL, NULL);
    ck_assert_int_eq(fe_exit_code(&p), 0);
    ck_assert_ptr_nonnull(strstr(p.err, ": warning: conv2d(4, 3, stride = 3): at stride 3 the windows stop"));
    ck_assert_ptr_null(strstr(p.err, "generated"));
    fe_proc_free(&p);
    unlink(path);
    free(path);
}
END_TEST

/* Columns count characters, not bytes: a caret after UTF-8 in a comment
 * on the same line still lines up. */
START_TEST(test_utf8_columns)
{
    const char *src = "model m(x: f32[784]) -> f32[10] { x -> dense(10) -> relu6 } # \xc3\xa9t\xc3\xa9\n";
    char *out = fe_diags("model m(x: f32[784]) -> f32[10] { \"\xc3\xa9\" -> relu6 }\n", NULL);
    ck_assert_str_eq(out,
        "t.net:1:35: error: a chain starts from a tensor, not the string \"\xc3\xa9\"\n"
        "    1 | model m(x: f32[784]) -> f32[10] { \"\xc3\xa9\" -> relu6 }\n"
        "      |                                   ^~~\n");
    free(out);
    out = fe_diags(src, NULL);
    ck_assert_ptr_nonnull(strstr(out, "t.net:1:53: error: unknown layer 'relu6'"));
    free(out);
}
END_TEST

/* concat takes at most 64 inputs: 64 pass the front end and its verifier
 * (which once stopped at 16 with an internal error), 65 are refused with a
 * message instead of losing the last input. */
static char *concat_of(int n, bool *ok)
{
    char src[1024];
    size_t len = (size_t)snprintf(src, sizeof src, "model m(x: f32[2]) { concat(x");
    for (int i = 1; i < n; i++)
        len += (size_t)snprintf(src + len, sizeof src - len, ", x");
    snprintf(src + len, sizeof src - len, ") }\n");
    return fe_diags(src, ok);
}

START_TEST(test_concat_input_limit)
{
    bool ok;
    char *out = concat_of(64, &ok);
    ck_assert_msg(ok && !*out, "64 inputs:\n%s", out);
    free(out);
    out = concat_of(65, &ok);
    ck_assert(!ok);
    const char *want = "t.net:1:22: error: concat(...): too many inputs (65); the limit is 64, so nest the calls: concat(concat(a, b), c)\n";
    ck_assert_msg(!strncmp(out, want, strlen(want)), "65 inputs:\n%s", out);
    free(out);
}
END_TEST

static Suite *diagnostics_suite(void)
{
    Suite *s = suite_create("diagnostics");
    TCase *tc = test_case("pinned");
    tcase_add_loop_test(tc, test_pinned, 0, NCASES);
    tcase_add_test(tc, test_enough_cases);
    suite_add_tcase(s, tc);
    tc = test_case("limits");
    tcase_add_test(tc, test_error_limit);
    tcase_add_test(tc, test_error_limit_drops_notes);
    tcase_add_test(tc, test_utf8_columns);
    tcase_add_test(tc, test_concat_input_limit);
    suite_add_tcase(s, tc);
    tc = test_case("cli");
    tcase_add_test(tc, test_cli_footer);
    tcase_add_test(tc, test_build_refuses_integer_output);
    tcase_add_test(tc, test_cli_warning_exit_zero);
    suite_add_tcase(s, tc);
    return s;
}

TEST_MAIN(diagnostics_suite)
