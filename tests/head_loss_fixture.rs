//! The head, every loss, their gradients and one AdamW step against
//! ../shared/reference/head_loss_fixture.json (float64 PyTorch code checked against
//! Quaterion): d = 8, batch = 6, groups [0, 0, 1, 1, 2, 0]. Tolerances as the fixture
//! suggests for f32: 1e-5 relative on losses, 1e-4 absolute on gradients and parameters.
//! `cargo test --test head_loss_fixture -- --nocapture` prints every difference.

use candle_core::{Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use serde_json::Value;

use simtune::loss::{Loss, Mining, OnlineContrastiveLoss, SoftmaxLoss, TripletLoss};
use simtune::{Embeddings, SkipConnectionHead, SkipConnectionHeadConfig};

fn fixture() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/reference/head_loss_fixture.json"
    );
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn vec1(v: &Value) -> Vec<f32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect()
}

/// A JSON number list (1-D) or list of lists (2-D) as an f32 tensor.
fn tensor(v: &Value) -> Tensor {
    match v.as_array().unwrap()[0] {
        Value::Array(_) => {
            let rows: Vec<Vec<f32>> = v.as_array().unwrap().iter().map(vec1).collect();
            let (r, c) = (rows.len(), rows[0].len());
            Tensor::from_vec(rows.concat(), (r, c), &Device::Cpu).unwrap()
        }
        _ => {
            let x = vec1(v);
            let n = x.len();
            Tensor::from_vec(x, n, &Device::Cpu).unwrap()
        }
    }
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims());
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar()
        .unwrap()
}

fn head(f: &Value) -> SkipConnectionHead {
    let d = f["d"].as_u64().unwrap() as usize;
    SkipConnectionHead::from_tensors(
        SkipConnectionHeadConfig::new(d),
        vec![tensor(&f["fc_weight"])],
        vec![tensor(&f["fc_bias"])],
        vec![tensor(&f["gates"])],
    )
    .unwrap()
}

/// (batch,) u32
fn groups(f: &Value) -> Tensor {
    let g: Vec<u32> = f["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g.as_u64().unwrap() as u32)
        .collect();
    Tensor::new(g.as_slice(), &Device::Cpu).unwrap()
}

#[test]
fn head_output_matches() {
    let f = fixture();
    let h = head(&f);
    let want = tensor(&f["head_out"]);
    let d = max_abs_diff(&h.forward(&tensor(&f["x"]), None).unwrap(), &want);
    eprintln!("head_out: max |diff| {d:.3e}");
    assert!(d < 1e-5, "head output differs by {d}");

    // the same head through safetensors, and apply() = L2-normalised head output
    let back = SkipConnectionHead::from_safetensors(&h.to_safetensors().unwrap()).unwrap();
    let x = Embeddings::from_tensor(&tensor(&f["x"])).unwrap();
    let mut want_tuned = Embeddings::from_tensor(&want).unwrap();
    want_tuned.normalize();
    let tuned = back.apply(&x).unwrap();
    let d = max_abs_diff(
        &tuned.to_tensor().unwrap(),
        &want_tuned.to_tensor().unwrap(),
    );
    assert!(d < 1e-5, "apply differs by {d}");
}

/// Loss value and gradients w.r.t. fc weight, bias and gates (and extra vars) vs the fixture.
fn check_loss(name: &str, loss: &Loss, extra: &[(&str, &Var)]) {
    let f = fixture();
    let h = head(&f);
    let out = h.forward(&tensor(&f["x"]), None).unwrap();
    let l = loss.forward(&out, &groups(&f)).unwrap();
    let want = &f["losses"][name];
    let value = l.to_scalar::<f32>().unwrap() as f64;
    let expected = want["loss"].as_f64().unwrap();
    let rel = ((value - expected) / expected).abs();
    eprintln!("{name}: loss {value:.7} vs {expected:.7} (relative diff {rel:.2e})");
    assert!(rel < 1e-5, "{name}: loss {value} vs {expected}");
    let grads = l.backward().unwrap();
    let vars = h.vars();
    let mut named = vec![
        ("grad_fc_weight", &vars[0]),
        ("grad_fc_bias", &vars[1]),
        ("grad_gates", &vars[2]),
    ];
    named.extend_from_slice(extra);
    for (key, var) in named {
        let g = grads.get(var.as_tensor()).unwrap();
        let d = max_abs_diff(g, &tensor(&want[key]));
        eprintln!("{name}: {key} max |diff| {d:.3e}");
        assert!(d < 1e-4, "{name}: {key} differs by {d}");
    }
}

#[test]
fn triplet_batch_hard_matches() {
    check_loss(
        "triplet_hard_margin0.5",
        &Loss::Triplet(TripletLoss {
            margin: 0.5,
            mining: Mining::Hard,
            // Quaterion's: the plain mean over anchors
            class_balance: 0.0,
        }),
        &[],
    );
}

#[test]
fn softmax_matches() {
    let f = fixture();
    let loss =
        SoftmaxLoss::from_kernel(tensor(&f["losses"]["softmax_t0.05"]["kernel"]), 0.05).unwrap();
    assert_eq!(loss.num_groups, 3);
    let kernel = loss.kernel.clone();
    check_loss(
        "softmax_t0.05",
        &Loss::Softmax(loss),
        &[("grad_kernel", &kernel)],
    );
}

#[test]
fn online_contrastive_fixed_matches() {
    check_loss(
        "online_contrastive_hard_fixed",
        &Loss::Contrastive(OnlineContrastiveLoss::default()),
        &[],
    );
}

#[test]
fn online_contrastive_as_published_matches() {
    check_loss(
        "online_contrastive_hard_quaterion",
        &Loss::Contrastive(OnlineContrastiveLoss {
            margin: 0.5,
            include_self: true,
        }),
        &[],
    );
}

/// One AdamW step (lr 1e-3, weight decay 0.01) on the triplet loss, against the fixture.
/// The decoupled decay moves a parameter by lr * wd * w (~1e-5 here), far below the Adam
/// step (~lr), so the parameters are compared by their *change* with a tolerance well under
/// the decay term, and the same step without decay must miss the fixture: the test can tell
/// decoupled weight decay from none.
#[test]
fn one_adamw_step_matches() {
    let f = fixture();
    let step = |weight_decay: f64| -> Vec<f32> {
        let h = head(&f);
        let before = h.vars();
        let before: Vec<Tensor> = before
            .iter()
            .map(|v| v.as_tensor().copy().unwrap())
            .collect();
        let mut opt = AdamW::new(
            h.vars(),
            ParamsAdamW {
                lr: 1e-3,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                weight_decay,
            },
        )
        .unwrap();
        let out = h.forward(&tensor(&f["x"]), None).unwrap();
        let l = TripletLoss::default().forward(&out, &groups(&f)).unwrap();
        opt.backward_step(&l).unwrap();
        let want = &f["adamw_step_triplet"];
        ["fc_weight", "fc_bias", "gates"]
            .iter()
            .zip(h.vars().iter().zip(&before))
            .map(|(key, (var, b))| {
                // (after - before), ours vs the fixture's
                let ours = (var.as_tensor() - b).unwrap();
                let theirs = (tensor(&want[*key]) - b).unwrap();
                max_abs_diff(&ours, &theirs)
            })
            .collect()
    };
    let decoupled = step(0.01);
    let none = step(0.0);
    eprintln!("adamw step, max |diff| of the change per parameter: with decay {decoupled:?}, without {none:?}");
    for (key, d) in ["fc_weight", "fc_bias", "gates"].iter().zip(&decoupled) {
        assert!(
            *d < 1e-6,
            "after one AdamW step, the change of {key} differs by {d}"
        );
    }
    assert!(
        none.iter().any(|&d| d > 5e-6),
        "the fixture cannot tell weight decay from none: {none:?}"
    );
}

/// Decoupled weight decay (Loshchilov & Hutter): with a zero gradient Adam's step is 0/(0+eps)
/// = 0, so each step only shrinks w by (1 - lr * wd): after n steps w0 * (1 - lr * wd)^n.
/// An L2 penalty added to the gradient (coupled, torch.optim.Adam's weight_decay) would
/// instead move every weight by ~lr per step.
#[test]
fn adamw_decay_is_decoupled() {
    let w0 = [0.5f32, -2.0, 3.0];
    let w = Var::from_slice(&w0, 3, &Device::Cpu).unwrap();
    let (lr, wd, steps) = (0.1, 0.5, 10);
    let mut opt = AdamW::new(
        vec![w.clone()],
        ParamsAdamW {
            lr,
            weight_decay: wd,
            ..Default::default()
        },
    )
    .unwrap();
    for _ in 0..steps {
        // a loss whose gradient 2 (w - w) is exactly zero
        let here = w.as_tensor().detach();
        let loss = (w.as_tensor() - here)
            .unwrap()
            .sqr()
            .unwrap()
            .sum_all()
            .unwrap();
        opt.backward_step(&loss).unwrap();
    }
    let got = w.as_tensor().to_vec1::<f32>().unwrap();
    let factor = (1.0 - lr * wd).powi(steps) as f32;
    for (g, w0) in got.iter().zip(w0) {
        assert!(
            (g - w0 * factor).abs() < 1e-5,
            "after {steps} steps of zero gradient {w0} became {g}, decoupled decay gives {}",
            w0 * factor
        );
    }
}
