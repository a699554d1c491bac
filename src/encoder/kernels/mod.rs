//! Fast CPU kernels for the BERT encoder: an int8-weight linear layer ([`QLinear`]) with a
//! fused erf-GELU epilogue, an f32 one ([`F32Linear`]), a vectorised erf GELU ([`gelu_erf`]),
//! attention's row softmax ([`softmax_scaled`]) and one head of attention over a short
//! sentence, fused ([`attention_head`]); their f32 sums in 8 partial sums ([`sum8`]). No
//! dependencies.
//!
//! Paths: x86_64 AVX2 (chosen at run time with `is_x86_feature_detected!`), wasm32 simd128
//! (chosen at compile time, `-C target-feature=+simd128`), and a portable scalar fallback.
//! All paths produce bit-identical results for the same input (integer accumulation is
//! exact and the float epilogue uses the same operation sequence everywhere).
//!
//! Accuracy (see the tests): `QLinear` vs f32 on random data, relative RMS error ~0.4 %
//! (dominated by int8 weight rounding); `gelu_erf` max abs error 4.6e-7 on [-10, 10].
//!
//! `QLinear::forward` takes `&self` and allocates its scratch per call, so one layer can be
//! shared by threads that each run their own rows.

mod attention;
mod f32;
mod gelu;
mod int8;
mod softmax;
mod sum8;

pub use attention::{attention_head, HeadColumns};
pub use f32::F32Linear;
pub use gelu::{erf_f64, gelu_erf, gelu_f64};
pub use int8::{linear_f32_reference, Activation, QLinear};
pub use softmax::softmax_scaled;
pub use sum8::sum8;
