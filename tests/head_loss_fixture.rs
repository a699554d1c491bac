//! The head, every loss, their gradients and one AdamW step against
//! ../shared/reference/head_loss_fixture.json (computed by code checked against Quaterion).
//! Tolerances as the fixture suggests for f32: 1e-5 relative on losses, 1e-4 absolute on
//! gradients and parameters.

use candle_core::{Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use serde_json::Value;

use simtune::loss::{Loss, Mining, OnlineContrastiveLoss, SoftmaxLoss, TripletLoss};
use simtune::{SkipConnectionHead, SkipConnectionHeadConfig};

fn fixture() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/reference/head_loss_fixture.json");
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn vec1(v: &Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

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
    (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar().unwrap()
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

fn groups(f: &Value) -> Vec<usize> {
    f["groups"].as_array().unwrap().iter().map(|g| g.as_u64().unwrap() as usize).collect()
}

#[test]
fn head_output_matches() {
    let f = fixture();
    let out = head(&f).forward(&tensor(&f["x"]), None).unwrap();
    let d = max_abs_diff(&out, &tensor(&f["head_out"]));
    assert!(d < 1e-5, "head output differs by {d}");
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
    assert!(
        ((value - expected) / expected).abs() < 1e-5,
        "{name}: loss {value} vs {expected}"
    );
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
        assert!(d < 1e-4, "{name}: {key} differs by {d}");
    }
}

#[test]
fn triplet_batch_hard_matches() {
    check_loss(
        "triplet_hard_margin0.5",
        &Loss::Triplet(TripletLoss { margin: 0.5, mining: Mining::Hard }),
        &[],
    );
}

#[test]
fn softmax_matches() {
    let f = fixture();
    let kernel = Var::from_tensor(&tensor(&f["losses"]["softmax_t0.05"]["kernel"])).unwrap();
    let loss = Loss::Softmax(SoftmaxLoss { temperature: 0.05, kernel: kernel.clone() });
    check_loss("softmax_t0.05", &loss, &[("grad_kernel", &kernel)]);
}

#[test]
fn online_contrastive_fixed_and_published_match() {
    check_loss(
        "online_contrastive_hard_fixed",
        &Loss::Contrastive(OnlineContrastiveLoss { margin: 0.5, include_self: false }),
        &[],
    );
    check_loss(
        "online_contrastive_hard_quaterion",
        &Loss::Contrastive(OnlineContrastiveLoss { margin: 0.5, include_self: true }),
        &[],
    );
}

#[test]
fn one_adamw_step_matches() {
    let f = fixture();
    let h = head(&f);
    let mut opt = AdamW::new(
        h.vars(),
        ParamsAdamW { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.01 },
    )
    .unwrap();
    let out = h.forward(&tensor(&f["x"]), None).unwrap();
    let l = TripletLoss::default().forward(&out, &groups(&f)).unwrap();
    opt.backward_step(&l).unwrap();
    let want = &f["adamw_step_triplet"];
    let vars = h.vars();
    for (key, var) in [("fc_weight", &vars[0]), ("fc_bias", &vars[1]), ("gates", &vars[2])] {
        let d = max_abs_diff(var.as_tensor(), &tensor(&want[key]));
        assert!(d < 1e-4, "after one AdamW step, {key} differs by {d}");
    }
}
