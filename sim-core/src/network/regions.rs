//! The `regions` topology: one vertex per region (its self-loop the latency
//! between two of its hosts), a link between every two regions with the
//! matrix's latency and loss, and the hosts spread over the regions.
//!
//! The graph is built as a GML graph and read like a file (so it is checked
//! the same way and `sim export shadow` writes it as Shadow's network.gml);
//! node ids are the region indices, in scenario order. Hosts are spread in
//! host-id order by smooth weighted round robin over the regions' host
//! counts, so every region gets exactly its count and every host group is
//! spread over the regions in proportion (not the first groups in the first
//! region). Shares become counts by largest remainder (ties to the earlier
//! region).

use super::gml::{GmlEdge, GmlGraph, GmlNode};
use super::topology::VertexId;
use crate::scenario::{RegionSize, RegionSpec};
use crate::units::SimDuration;

/// The regions as an undirected GML graph; `jitter` on every link.
pub fn graph(regions: &[RegionSpec], jitter: SimDuration) -> GmlGraph {
    let nodes = regions
        .iter()
        .enumerate()
        .map(|(i, r)| GmlNode {
            id: i as u32,
            bandwidth_up: r.bandwidth,
            bandwidth_down: r.bandwidth,
            line: 0,
        })
        .collect();
    let mut edges = Vec::new();
    for (i, r) in regions.iter().enumerate() {
        for j in i..regions.len() {
            edges.push(GmlEdge {
                source: i as u32,
                target: j as u32,
                latency: r.latency[j],
                jitter,
                packet_loss: r.loss[j],
                line: 0,
            });
        }
    }
    GmlGraph {
        directed: false,
        nodes,
        edges,
    }
}

/// How many of `hosts` hosts each region holds.
pub fn counts(regions: &[RegionSpec], hosts: usize) -> Vec<usize> {
    let mut counts: Vec<usize> = Vec::with_capacity(regions.len());
    let mut remainders: Vec<(f64, usize)> = Vec::new();
    for (i, r) in regions.iter().enumerate() {
        match r.size {
            RegionSize::Count(c) => counts.push(c as usize),
            RegionSize::Share(share) => {
                let exact = share * hosts as f64;
                counts.push(exact.floor() as usize);
                remainders.push((exact - exact.floor(), i));
            }
        }
    }
    let assigned: usize = counts.iter().sum();
    // Largest remainder first, the earlier region among equals.
    remainders.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(_, i) in remainders.iter().take(hosts.saturating_sub(assigned)) {
        counts[i] += 1;
    }
    counts
}

/// The region (vertex) of each of `hosts` hosts, in host-id order.
pub fn assign(regions: &[RegionSpec], hosts: usize) -> Vec<VertexId> {
    let counts = counts(regions, hosts);
    let total: i64 = counts.iter().map(|&c| c as i64).sum();
    let mut current = vec![0i64; counts.len()];
    let mut out = Vec::with_capacity(hosts);
    for _ in 0..hosts {
        for (c, &w) in current.iter_mut().zip(&counts) {
            *c += w as i64;
        }
        // The largest current weight, the earlier region among equals.
        let Some((best, _)) = current
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(&a.0)))
        else {
            break;
        };
        current[best] -= total;
        out.push(VertexId(best as u32));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::Probability;

    fn region(name: &str, size: RegionSize, latency: &[u64]) -> RegionSpec {
        RegionSpec {
            name: name.to_string(),
            size,
            bandwidth: None,
            latency: latency
                .iter()
                .map(|&ms| SimDuration::from_millis(ms))
                .collect(),
            loss: vec![Probability::ZERO; latency.len()],
        }
    }

    #[test]
    fn shares_become_exact_counts_spread_over_the_host_order() {
        let regions = [
            region("a", RegionSize::Share(0.5), &[1, 10, 20]),
            region("b", RegionSize::Share(0.3), &[10, 1, 30]),
            region("c", RegionSize::Share(0.2), &[20, 30, 1]),
        ];
        assert_eq!(counts(&regions, 10), vec![5, 3, 2]);
        assert_eq!(
            counts(&regions, 7),
            vec![4, 2, 1],
            "3.5, 2.1, 1.4: a's .5 wins"
        );
        let placed = assign(&regions, 10);
        let of = |v: u32| placed.iter().filter(|p| p.0 == v).count();
        assert_eq!((of(0), of(1), of(2)), (5, 3, 2));
        // Spread, not blocks: the first five hosts are not all in `a`.
        assert!(placed[..5].iter().any(|p| p.0 != 0), "{placed:?}");
        let graph = graph(&regions, SimDuration::from_millis(2));
        assert_eq!(graph.nodes.len(), 3);
        assert_eq!(graph.edges.len(), 6, "three self-loops and three pairs");
        assert!(graph.validate().is_ok());
    }
}
