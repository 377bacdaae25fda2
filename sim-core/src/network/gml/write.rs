//! [`GmlGraph`] to text in Shadow's dialect, one attribute per line.

use std::fmt::Write;

use super::GmlGraph;

/// Writes `graph` as Shadow-dialect GML: times and rates in whole units
/// (`"1500 us"`, `"100 Mbit"`), `packet_loss` always with a decimal point
/// (Shadow reads it as a float), `jitter` only when non-zero. The text
/// parses back with [`super::parse_gml`] to an equal graph (apart from the
/// `line` fields, which then point into this text), and writing that graph
/// again gives the same text.
pub fn write_gml(graph: &GmlGraph) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail, so every `writeln!` result is ignored.
    let _ = writeln!(out, "graph [");
    let _ = writeln!(out, "  directed {}", u8::from(graph.directed));
    for node in &graph.nodes {
        let _ = writeln!(out, "  node [");
        let _ = writeln!(out, "    id {}", node.id);
        if let Some(up) = node.bandwidth_up {
            let _ = writeln!(out, "    host_bandwidth_up \"{up}\"");
        }
        if let Some(down) = node.bandwidth_down {
            let _ = writeln!(out, "    host_bandwidth_down \"{down}\"");
        }
        let _ = writeln!(out, "  ]");
    }
    for edge in &graph.edges {
        let _ = writeln!(out, "  edge [");
        let _ = writeln!(out, "    source {}", edge.source);
        let _ = writeln!(out, "    target {}", edge.target);
        let _ = writeln!(out, "    latency \"{}\"", edge.latency);
        if !edge.jitter.is_zero() {
            let _ = writeln!(out, "    jitter \"{}\"", edge.jitter);
        }
        let _ = writeln!(out, "    packet_loss {}", float(edge.packet_loss.value()));
        let _ = writeln!(out, "  ]");
    }
    let _ = writeln!(out, "]");
    out
}

/// `value` in the shortest form that reads back exactly, with a decimal
/// point (`0.0`, `0.01`, `0.0000001`): Rust's `Display` for `f64` never
/// uses an exponent and round-trips.
fn float(value: f64) -> String {
    let text = value.to_string();
    if text.contains('.') {
        text
    } else {
        format!("{text}.0")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_always_carry_a_decimal_point() {
        assert_eq!(float(0.0), "0.0");
        assert_eq!(float(1.0), "1.0");
        assert_eq!(float(0.01), "0.01");
        assert_eq!(float(1e-7), "0.0000001");
        assert_eq!(float(1e-7).parse::<f64>().ok(), Some(1e-7));
    }
}
