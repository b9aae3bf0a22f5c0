//! The markdown table, the CSV files and the latency plot.

use std::fmt::Write as _;
use std::path::Path;

use hdrhistogram::Histogram;
use plotters::prelude::*;

use crate::e2e::E2eRun;
use crate::pipeline::EngineRun;
use crate::spec::Client;
use crate::Measured;

#[derive(Default)]
pub struct Results {
    /// (scenario, pipewright, librdkafka)
    pairs: Vec<(String, Option<Measured>, Option<Measured>)>,
    latency: Vec<(Client, Measured, Histogram<u64>)>,
    /// (cores, run)
    pipeline: Vec<(usize, EngineRun)>,
    e2e: Vec<E2eRun>,
    cluster: Vec<crate::cluster::ClusterRun>,
}

const PERCENTILES: &[(f64, &str)] = &[
    (50.0, "p50"),
    (99.0, "p99"),
    (99.9, "p99.9"),
    (100.0, "max"),
];

fn ratio(ours: f64, theirs: f64) -> String {
    if theirs > 0.0 {
        format!("{:.2}×", ours / theirs)
    } else {
        "–".into()
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "not met"
    }
}

impl Results {
    pub fn add(&mut self, scenario: &str, client: Client, measured: Measured) {
        let index = match self.pairs.iter().position(|(s, _, _)| s == scenario) {
            Some(i) => i,
            None => {
                self.pairs.push((scenario.to_owned(), None, None));
                self.pairs.len() - 1
            }
        };
        match client {
            Client::Pipewright => self.pairs[index].1 = Some(measured),
            Client::Librdkafka => self.pairs[index].2 = Some(measured),
        }
    }

    pub fn add_latency(&mut self, client: Client, measured: Measured, histogram: Histogram<u64>) {
        self.latency.push((client, measured, histogram));
    }

    pub fn add_pipeline(&mut self, cores: usize, run: EngineRun) {
        self.pipeline.push((cores, run));
    }

    pub fn add_cluster(&mut self, run: crate::cluster::ClusterRun) {
        self.cluster.push(run);
    }

    pub fn add_e2e(&mut self, runs: Vec<E2eRun>) {
        self.e2e.extend(runs);
    }

    /// The end-to-end section: what each relay adds over the direct produce → consume path, the two
    /// distributions it comes from, `e2e.csv` and one plot per rate.
    fn write_e2e(&self, out: &Path, md: &mut String) -> anyhow::Result<()> {
        md.push_str("### End-to-end latency through a relay, Kafka → Kafka, records of 100 B (µs; added = through the relay minus the direct produce → consume path of the same records, percentile by percentile)

");
        md.push_str("| rate/s | records | relay | added p50 | added p99 | through p50 | through p99 | through p99.9 | through p99.99 | direct p50 | direct p99 |\n|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        let mut csv = String::from("rate_per_s,relay,path,percentile,latency_us\n");
        for run in &self.e2e {
            let (t, d) = (&run.through, &run.direct);
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                run.rate_per_s,
                run.records,
                run.relay.name(),
                run.added_us(50.0),
                run.added_us(99.0),
                t.value_at_percentile(50.0),
                t.value_at_percentile(99.0),
                t.value_at_percentile(99.9),
                t.value_at_percentile(99.99),
                d.value_at_percentile(50.0),
                d.value_at_percentile(99.0),
            );
            for (path, histogram) in [("through", t), ("direct", d)] {
                for q in percentile_axis() {
                    let _ = writeln!(
                        csv,
                        "{},{},{path},{q},{}",
                        run.rate_per_s,
                        run.relay.name(),
                        histogram.value_at_percentile(q)
                    );
                }
            }
        }
        md.push('\n');
        std::fs::write(out.join("e2e.csv"), csv)?;
        let mut rates: Vec<u64> = self.e2e.iter().map(|r| r.rate_per_s).collect();
        rates.dedup();
        for rate in rates {
            let series: Vec<(String, &Histogram<u64>)> = self
                .e2e
                .iter()
                .filter(|r| r.rate_per_s == rate)
                .flat_map(|r| {
                    [(r.relay.name().to_owned(), &r.through)].into_iter().chain(
                        (r.relay == crate::e2e::Relay::Engine)
                            .then(|| ("direct produce → consume".to_owned(), &r.direct)),
                    )
                })
                .collect();
            let path = out.join(format!("e2e-{rate}.png"));
            plot_series(
                &format!("end-to-end latency, Kafka → relay → Kafka, {rate} records/s of 100 B"),
                &series,
                &path,
            )?;
            let _ = writeln!(
                md,
                "Plot: `{}`.\n",
                path.file_name()
                    .map_or(String::new(), |n| n.to_string_lossy().into_owned())
            );
        }
        Ok(())
    }

    /// Writes results.md, results.csv, latency.csv and latency.png into `out`; returns the markdown.
    pub fn write(&self, out: &Path) -> anyhow::Result<String> {
        let mut md = String::new();
        let mut csv = String::from(
            "scenario,client,records,failed,elapsed_ns,records_per_s,cpu_window_ns,cpu_ns_per_record,cpu_process_ns,max_rss_kib,broker_cpu_ns,child_wall_ns\n",
        );
        let mut csv_row = |scenario: &str, client: &str, m: &Measured| {
            let _ = writeln!(
                csv,
                "{scenario},{client},{},{},{},{:.0},{},{:.1},{},{},{},{}",
                m.result.records,
                m.result.failed,
                m.result.elapsed_ns,
                m.records_per_s(),
                m.result.cpu_window_ns,
                m.cpu_ns_per_record(),
                m.cpu_process_ns,
                m.max_rss_kib,
                m.broker_cpu_ns.map_or(String::new(), |ns| ns.to_string()),
                m.child_wall_ns
            );
        };
        if !self.pairs.is_empty() {
            md.push_str("### Throughput (acks=all, idempotent; rows \"at its defaults\": nothing else set on either side, the rest: batch.size=1000000 and the linger and compression named, on both; CPU = user+sys of the client process per record)\n\n");
            md.push_str("| scenario | pipewright records/s | librdkafka records/s | ratio (goal ≥ 1.5×) | pipewright CPU ns/record | librdkafka CPU ns/record | ratio (goal ≤ 0.33×) | broker CPU, cores (pw / rdkafka run) |\n");
            md.push_str("|---|---:|---:|---:|---:|---:|---:|---:|\n");
            for (scenario, ours, theirs) in &self.pairs {
                let (Some(ours), Some(theirs)) = (ours, theirs) else {
                    continue;
                };
                csv_row(scenario, "pipewright", ours);
                csv_row(scenario, "librdkafka", theirs);
                let cores =
                    |m: &Measured| m.broker_cores().map_or("–".into(), |c| format!("{c:.2}"));
                let _ = writeln!(
                    md,
                    "| {scenario} | {:.0} | {:.0} | {} | {:.0} | {:.0} | {} | {} / {} |",
                    ours.records_per_s(),
                    theirs.records_per_s(),
                    ratio(ours.records_per_s(), theirs.records_per_s()),
                    ours.cpu_ns_per_record(),
                    theirs.cpu_ns_per_record(),
                    ratio(ours.cpu_ns_per_record(), theirs.cpu_ns_per_record()),
                    cores(ours),
                    cores(theirs),
                );
            }
            md.push('\n');
        }
        if !self.latency.is_empty() {
            let find = |c: Client| self.latency.iter().find(|(client, _, _)| *client == c);
            md.push_str("### Produce latency, send → acknowledgement (10 000 records/s of 100 B, linger 0, acks=all, idempotent), µs\n\n");
            md.push_str("| percentile | pipewright | librdkafka | ratio (goal at p99 ≤ 0.5×) |\n|---|---:|---:|---:|\n");
            for (q, label) in PERCENTILES {
                let value = |c| find(c).map_or(0, |(_, _, h)| h.value_at_percentile(*q));
                let (ours, theirs) = (value(Client::Pipewright), value(Client::Librdkafka));
                let _ = writeln!(
                    md,
                    "| {label} | {ours} | {theirs} | {} |",
                    ratio(ours as f64, theirs as f64)
                );
            }
            if let (Some(ours), Some(theirs)) = (find(Client::Pipewright), find(Client::Librdkafka))
            {
                let _ = writeln!(
                    md,
                    "| CPU ns/record | {:.0} | {:.0} | {} |",
                    ours.1.cpu_ns_per_record(),
                    theirs.1.cpu_ns_per_record(),
                    ratio(ours.1.cpu_ns_per_record(), theirs.1.cpu_ns_per_record())
                );
            }
            md.push('\n');
            let mut lat = String::from("client,percentile,latency_us\n");
            for (client, measured, histogram) in &self.latency {
                csv_row("latency 100 B at 10k/s", client.name(), measured);
                for q in percentile_axis() {
                    let _ = writeln!(
                        lat,
                        "{},{q},{}",
                        client.name(),
                        histogram.value_at_percentile(q)
                    );
                }
            }
            std::fs::write(out.join("latency.csv"), lat)?;
            let series: Vec<(String, &Histogram<u64>)> = self
                .latency
                .iter()
                .map(|(client, _, histogram)| (client.name().to_owned(), histogram))
                .collect();
            plot_series(
                "produce latency, send → ack (10k records/s, 100 B, acks=all, idempotent)",
                &series,
                &out.join("latency.png"),
            )?;
        }
        if !self.pipeline.is_empty() {
            md.push_str("### pipewright alone: `engine --cores N`, kafka → json → InsertField, ReplaceField, MaskField → kafka (throughput profile; records/s from the first record polled until every record is written to the sink, start-up apart; CPU = user+sys of the whole engine process)\n\n");
            md.push_str("| cores | records/s | records/s per core | CPU ns/record | start-up to first record polled (ms) | peak RSS (MiB) |\n|---:|---:|---:|---:|---:|---:|\n");
            for (cores, run) in &self.pipeline {
                let m = &run.measured;
                csv_row(&format!("pipeline cores={cores}"), "pipewright", m);
                let _ = writeln!(
                    md,
                    "| {cores} | {:.0} | {:.0} | {:.0} | {:.0} | {:.1} |",
                    m.records_per_s(),
                    m.records_per_s() / *cores as f64,
                    m.cpu_ns_per_record(),
                    run.first_record.as_secs_f64() * 1e3,
                    m.max_rss_kib as f64 / 1024.0
                );
            }
            md.push('\n');
        }
        if !self.cluster.is_empty() {
            md.push_str("\n### A Connect cluster of `engine distributed` workers (--cores 1 each; this machine's 2 cores are shared by every worker and the broker): FileStreamSink, 6 tasks, at its defaults, Kafka → /dev/null\n\n| workers | records | records/s | connector created → all tasks running |\n|---:|---:|---:|---:|\n");
            for run in &self.cluster {
                let _ = writeln!(
                    md,
                    "| {} | {} | {:.0} | {:.1} s |",
                    run.workers,
                    run.records,
                    run.records_per_s(),
                    run.tasks_running_after.as_secs_f64()
                );
            }
        }
        if !self.e2e.is_empty() {
            self.write_e2e(out, &mut md)?;
        }
        md.push_str(&self.goals());
        std::fs::write(out.join("results.md"), &md)?;
        std::fs::write(out.join("results.csv"), csv)?;
        Ok(md)
    }

    fn goals(&self) -> String {
        let named: Vec<_> = self
            .pairs
            .iter()
            .filter_map(|(name, a, b)| Some((name, a.as_ref()?, b.as_ref()?)))
            .collect();
        let pairs: Vec<_> = named.iter().map(|(_, a, b)| (*a, *b)).collect();
        if pairs.is_empty() && self.latency.is_empty() {
            return String::new();
        }
        let mut md = String::from("### Goals\n\n");
        if !pairs.is_empty() {
            let cpu_ok = pairs
                .iter()
                .filter(|(a, b)| a.cpu_ns_per_record() <= 0.33 * b.cpu_ns_per_record())
                .count();
            let rate_ok = pairs
                .iter()
                .filter(|(a, b)| a.records_per_s() >= 1.5 * b.records_per_s())
                .count();
            let _ = writeln!(
                md,
                "- CPU per record ≤ 0.33× librdkafka: {}, met in {cpu_ok} of {} scenarios",
                verdict(cpu_ok == pairs.len()),
                pairs.len()
            );
            let _ = writeln!(
                md,
                "- records/s ≥ 1.5× librdkafka: {}, met in {rate_ok} of {} scenarios",
                verdict(rate_ok == pairs.len()),
                pairs.len()
            );
            // Where the goal is missed, how busy the broker was: a broker near the cores it can get sets the
            // records/s of both clients alike.
            for (name, ours, theirs) in &named {
                if ours.records_per_s() >= 1.5 * theirs.records_per_s() {
                    continue;
                }
                let cores =
                    |m: &Measured| m.broker_cores().map_or("–".into(), |c| format!("{c:.2}"));
                let _ = writeln!(
                    md,
                    "  - {name}: {}; the broker used {} cores during pipewright's run and {} during librdkafka's",
                    ratio(ours.records_per_s(), theirs.records_per_s()),
                    cores(ours),
                    cores(theirs)
                );
            }
        }
        let p99 = |c: Client| {
            self.latency
                .iter()
                .find(|(client, _, _)| *client == c)
                .map(|(_, _, h)| h.value_at_percentile(99.0))
        };
        if let (Some(ours), Some(theirs)) = (p99(Client::Pipewright), p99(Client::Librdkafka)) {
            let _ = writeln!(
                md,
                "- p99 latency ≤ 0.5× librdkafka: {} ({ours} µs vs {theirs} µs)",
                verdict(ours as f64 <= 0.5 * theirs as f64)
            );
        }
        md
    }
}

/// Percentiles from 0 to 99.99, denser towards the tail.
fn percentile_axis() -> Vec<f64> {
    (0..=400)
        .map(|i| 100.0 * (1.0 - 10f64.powf(-(i as f64) / 100.0)))
        .collect()
}

/// Named latency distributions against percentile on a "nines" axis (x = -log10(1 - q)), the usual
/// HdrHistogram picture, latency on a log scale.
fn plot_series(
    caption: &str,
    series: &[(String, &Histogram<u64>)],
    path: &Path,
) -> anyhow::Result<()> {
    let root = BitMapBackend::new(path, (1000, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let max_us = series
        .iter()
        .map(|(_, h)| h.value_at_percentile(99.99))
        .max()
        .unwrap_or(1)
        .max(1) as f64
        * 1.1;
    let mut chart = ChartBuilder::on(&root)
        .caption(caption, ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..4f64, (1f64..max_us).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency (µs, log scale)")
        .x_labels(5)
        .x_label_formatter(&|x| match x.round() as i32 {
            0 => "0%".into(),
            1 => "90%".into(),
            2 => "99%".into(),
            3 => "99.9%".into(),
            4 => "99.99%".into(),
            _ => String::new(),
        })
        .draw()?;
    let palette = [BLUE, CYAN, RED, MAGENTA, BLACK, GREEN];
    for (index, (name, histogram)) in series.iter().enumerate() {
        let color = palette[index % palette.len()];
        let points: Vec<(f64, f64)> = percentile_axis()
            .into_iter()
            .map(|q| {
                let nines = -(1.0 - q / 100.0).max(1e-4).log10();
                (nines, (histogram.value_at_percentile(q) as f64).max(1.0))
            })
            .collect();
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))?
            .label(name.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
