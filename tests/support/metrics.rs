//! Reading this process's metrics (the relayer runs in-process): the sum of the samples of a
//! family whose labels include the given pairs.

/// The sum of `name`'s samples whose labels include every pair of `labels` (0 when none).
pub fn metric(name: &str, labels: &[(&str, &str)]) -> f64 {
    let text = arke::telemetry::metrics_text();
    let mut sum = 0.0;
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let (family, rest) = series.split_once('{').unwrap_or((series, ""));
        if family != name {
            continue;
        }
        let matches = labels
            .iter()
            .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
        if matches {
            sum += value.parse::<f64>().expect("a sample value");
        }
    }
    sum
}
