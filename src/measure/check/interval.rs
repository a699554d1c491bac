//! Means and Student-t intervals for the check's figure: the sample standard deviation, the
//! 95% interval of a mean, and t quantiles at any level (for intervals corrected for several
//! labels at once).

use super::estimator::Gain;

/// Sample standard deviation (0 for fewer than 2 values).
pub(super) fn sample_sd(values: &[f64]) -> f64 {
    let n = values.len();
    if n < 2 {
        return 0.0;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
}

/// Mean and Student-t 95% interval of `values` (non-empty), the standard deviation taken as
/// at least `sd_floor`.
pub(super) fn mean_interval(values: &[f64], sd_floor: f64) -> Gain {
    mean_interval_q(values, sd_floor, t975(values.len().max(2) - 1))
}

/// Mean and the interval mean ± q·sd/√n of `values` (non-empty), sd at least `sd_floor`.
pub(super) fn mean_interval_q(values: &[f64], sd_floor: f64, q: f64) -> Gain {
    let n = values.len();
    let mean = values.iter().sum::<f64>() / n as f64;
    if n < 2 {
        return Gain {
            checks: n,
            gain: mean,
            low: mean,
            high: mean,
        };
    }
    let half = q * sample_sd(values).max(sd_floor) / (n as f64).sqrt();
    // a change in precision@k lies in [-1, 1], and so does its mean
    Gain {
        checks: n,
        gain: mean,
        low: (mean - half).max(-1.0),
        high: (mean + half).min(1.0),
    }
}

/// The 0.975 quantile of Student's t with `df` degrees of freedom: exact table to 30, then
/// the Cornish-Fisher expansion around the normal quantile (error < 1e-3).
pub(super) fn t975(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    if (1..=30).contains(&df) {
        return TABLE[df - 1];
    }
    let z: f64 = 1.959964;
    let v = df.max(1) as f64;
    z + (z.powi(3) + z) / (4.0 * v)
        + (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / (96.0 * v * v)
}

/// The `p` quantile (0.5 <= p < 1) of Student's t with `df` >= 1 degrees of freedom, by
/// bisection on its CDF, F(x) = 1/2 + the integral of the density from 0 to x (Simpson's rule on
/// the substitution t = tan u, which makes the heavy tail finite).
pub(super) fn t_quantile(p: f64, df: usize) -> f64 {
    // ~120,000 density evaluations, ~0.1 s in wasm: the page asks again after every label
    // and answer with the same few (p, df), so each is computed once per thread
    thread_local! {
        static KNOWN: std::cell::RefCell<std::collections::HashMap<(u64, usize), f64>> =
            Default::default();
    }
    let key = (p.to_bits(), df);
    if let Some(q) = KNOWN.with(|k| k.borrow().get(&key).copied()) {
        return q;
    }
    let q = t_quantile_bisect(p, df);
    KNOWN.with(|k| k.borrow_mut().insert(key, q));
    q
}

fn t_quantile_bisect(p: f64, df: usize) -> f64 {
    let v = df.max(1) as f64;
    // Γ((v+1)/2) / Γ(v/2) for whole v: 1/√π at v = 1, √π/2 at v = 2, then × (v+1)/v per +2
    let mut ratio = if df % 2 == 1 {
        1.0 / std::f64::consts::PI.sqrt()
    } else {
        std::f64::consts::PI.sqrt() / 2.0
    };
    let mut w = if df % 2 == 1 { 1.0 } else { 2.0 };
    while w < v {
        ratio *= (w + 1.0) / w;
        w += 2.0;
    }
    let c = ratio / (v * std::f64::consts::PI).sqrt();
    // density in u (t = tan u, dt = sec² u du), on [0, atan x]
    let g = |u: f64| {
        let t = u.tan();
        c * (1.0 + t * t / v).powf(-(v + 1.0) / 2.0) / (u.cos() * u.cos())
    };
    let cdf = |x: f64| {
        let (b, n) = (x.atan(), 2000);
        let h = b / n as f64;
        let mut sum = g(0.0) + g(b);
        for i in 1..n {
            sum += g(i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
        }
        0.5 + sum * h / 3.0
    };
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    while cdf(hi) < p && hi < 1e6 {
        hi *= 2.0;
    }
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        if cdf(mid) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantiles_at_any_level() {
        // table values of Student's t
        for (p, df, q) in [
            (0.975, 4, 2.776),
            (0.975, 1, 12.706),
            (0.995, 4, 4.604),
            (0.995, 10, 3.169),
            (0.9975, 2, 14.089),
            (0.975, 30, 2.042),
        ] {
            assert!(
                (t_quantile(p, df) - q).abs() < 2e-3,
                "t({p}, {df}) = {}",
                t_quantile(p, df)
            );
        }
        for df in 1..40 {
            assert!((t_quantile(0.975, df) - t975(df)).abs() < 2e-3, "df {df}");
        }
    }

    #[test]
    fn t_quantiles() {
        assert_eq!(t975(1), 12.706);
        assert!((t975(40) - 2.021).abs() < 2e-3);
        assert!((t975(120) - 1.980).abs() < 2e-3);
        assert!((t975(100_000) - 1.960).abs() < 1e-3);
    }
}
