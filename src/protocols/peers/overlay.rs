//! The overlay the peer registry builds: who is connected to whom, as an
//! undirected graph of live members (an edge when either end has the other
//! up), and its shape: degrees, connected components and diameter in hops.
//! Used for the end-of-run metrics of bounded views and for their
//! convergence (every live member at its target degree, one component).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use node_logic::HostId;

/// An undirected graph over live members, in compressed adjacency form.
#[derive(Debug)]
pub struct Overlay {
    /// Vertex `i` is `hosts[i]`.
    hosts: Vec<HostId>,
    /// Neighbours of vertex `i`: `adjacent[offsets[i]..offsets[i + 1]]`.
    offsets: Vec<usize>,
    adjacent: Vec<u32>,
}

/// The shape of an [`Overlay`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Shape {
    /// Fewest neighbours of a vertex.
    pub degree_min: usize,
    /// Mean neighbours per vertex.
    pub degree_mean: f64,
    /// Most neighbours of a vertex.
    pub degree_max: usize,
    /// Connected components.
    pub components: usize,
    /// The longest shortest path in hops; `None` when disconnected.
    pub diameter: Option<u32>,
}

impl Overlay {
    /// The overlay among `live` where `views[h]` are the peers `h` has up.
    pub fn new(live: &BTreeSet<HostId>, views: &BTreeMap<HostId, BTreeSet<HostId>>) -> Self {
        let hosts: Vec<HostId> = live.iter().copied().collect();
        let index = |h: &HostId| hosts.binary_search(h).ok();
        let mut edges: BTreeSet<(u32, u32)> = BTreeSet::new();
        for (a, view) in views {
            let Some(i) = index(a) else { continue };
            for b in view {
                if let Some(j) = index(b).filter(|&j| j != i) {
                    edges.insert((i.min(j) as u32, i.max(j) as u32));
                }
            }
        }
        let mut lists = vec![Vec::new(); hosts.len()];
        for &(i, j) in &edges {
            lists[i as usize].push(j);
            lists[j as usize].push(i);
        }
        let mut offsets = Vec::with_capacity(hosts.len() + 1);
        let mut adjacent = Vec::with_capacity(edges.len() * 2);
        offsets.push(0);
        for list in lists {
            adjacent.extend(list);
            offsets.push(adjacent.len());
        }
        Overlay {
            hosts,
            offsets,
            adjacent,
        }
    }

    /// How many vertices.
    pub fn len(&self) -> usize {
        self.hosts.len()
    }

    /// Whether it has no vertex.
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }

    fn neighbours(&self, v: usize) -> &[u32] {
        &self.adjacent[self.offsets[v]..self.offsets[v + 1]]
    }

    /// Hops from `from` to every vertex (`u32::MAX`: unreachable).
    fn distances(&self, from: usize, dist: &mut [u32], queue: &mut VecDeque<usize>) {
        dist.fill(u32::MAX);
        dist[from] = 0;
        queue.clear();
        queue.push_back(from);
        while let Some(v) = queue.pop_front() {
            for &w in self.neighbours(v) {
                let w = w as usize;
                if dist[w] == u32::MAX {
                    dist[w] = dist[v] + 1;
                    queue.push_back(w);
                }
            }
        }
    }

    /// Whether every vertex reaches every other (one vertex or none: yes).
    pub fn is_connected(&self) -> bool {
        if self.hosts.len() < 2 {
            return true;
        }
        let mut dist = vec![0; self.hosts.len()];
        self.distances(0, &mut dist, &mut VecDeque::new());
        dist.iter().all(|&d| d != u32::MAX)
    }

    /// The largest eccentricity of a connected overlay: breadth-first
    /// searches from 64 sources at once, each vertex holding the bitset of
    /// the sources that reached it, one pass over the edges per level. Exact;
    /// O(n / 64 x diameter x (n + m)) word operations.
    fn diameter(&self) -> u32 {
        let n = self.hosts.len();
        let mut best = 0;
        let (mut seen, mut frontier, mut next) = (vec![0u64; n], vec![0u64; n], vec![0u64; n]);
        for base in (0..n).step_by(64) {
            seen.fill(0);
            frontier.fill(0);
            for source in base..(base + 64).min(n) {
                let bit = 1u64 << (source - base);
                seen[source] = bit;
                frontier[source] = bit;
            }
            let mut level = 0;
            loop {
                let mut any = 0;
                for v in 0..n {
                    let reach = self
                        .neighbours(v)
                        .iter()
                        .fold(0, |acc, &w| acc | frontier[w as usize]);
                    next[v] = reach & !seen[v];
                    any |= next[v];
                }
                if any == 0 {
                    break;
                }
                level += 1;
                for (s, n) in seen.iter_mut().zip(&next) {
                    *s |= n;
                }
                std::mem::swap(&mut frontier, &mut next);
            }
            best = best.max(level);
        }
        best
    }

    /// Degrees, components and (when connected) the exact diameter.
    pub fn shape(&self) -> Option<Shape> {
        let n = self.hosts.len();
        if n == 0 {
            return None;
        }
        let degrees = (0..n).map(|v| self.neighbours(v).len());
        let mut dist = vec![0; n];
        let mut queue = VecDeque::new();
        let mut component = vec![usize::MAX; n];
        let mut components = 0;
        for v in 0..n {
            if component[v] == usize::MAX {
                self.distances(v, &mut dist, &mut queue);
                for (w, &d) in dist.iter().enumerate() {
                    if d != u32::MAX {
                        component[w] = components;
                    }
                }
                components += 1;
            }
        }
        let diameter = (components == 1).then(|| self.diameter());
        Some(Shape {
            degree_min: degrees.clone().min().unwrap_or(0),
            degree_mean: self.adjacent.len() as f64 / n as f64,
            degree_max: degrees.max().unwrap_or(0),
            components,
            diameter,
        })
    }
}

/// Whether the overlay among `live` (an edge when either end has the other
/// up in `views`) is connected: a union-find over the edges, O(n + m).
pub fn connected(live: &BTreeSet<HostId>, views: &BTreeMap<HostId, BTreeSet<HostId>>) -> bool {
    let Some(last) = live.last() else {
        return true;
    };
    // Dense index of each live host (u32::MAX: not live).
    let mut index = vec![u32::MAX; last.index() + 1];
    for (i, h) in live.iter().enumerate() {
        index[h.index()] = i as u32;
    }
    let mut parent: Vec<u32> = (0..live.len() as u32).collect();
    fn root(parent: &mut [u32], mut v: u32) -> u32 {
        while parent[v as usize] != v {
            parent[v as usize] = parent[parent[v as usize] as usize];
            v = parent[v as usize];
        }
        v
    }
    let mut components = live.len();
    let at = |h: &HostId| index.get(h.index()).copied().filter(|&i| i != u32::MAX);
    for (a, view) in views {
        let Some(i) = at(a) else { continue };
        for b in view {
            let Some(j) = at(b) else { continue };
            let (ri, rj) = (root(&mut parent, i), root(&mut parent, j));
            if ri != rj {
                parent[ri as usize] = rj;
                components -= 1;
            }
        }
    }
    components == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(v: &[u32]) -> BTreeSet<HostId> {
        v.iter().map(|&i| HostId(i)).collect()
    }

    #[test]
    fn the_diameter_of_rings_of_every_size_around_64() {
        for n in [2u32, 5, 63, 64, 65, 130] {
            let views: BTreeMap<HostId, BTreeSet<HostId>> =
                (0..n).map(|i| (HostId(i), ids(&[(i + 1) % n]))).collect();
            let live: BTreeSet<HostId> = (0..n).map(HostId).collect();
            let shape = Overlay::new(&live, &views).shape().unwrap();
            assert_eq!(shape.diameter, Some(n / 2), "ring of {n}");
        }
    }

    #[test]
    fn a_path_and_an_island() {
        // 0-1-2-3 as one-sided views, 4 alone, 9 not live (ignored).
        let mut views = BTreeMap::new();
        views.insert(HostId(0), ids(&[1, 9]));
        views.insert(HostId(2), ids(&[1, 3]));
        let live = ids(&[0, 1, 2, 3]);
        let shape = Overlay::new(&live, &views).shape().unwrap();
        assert_eq!((shape.degree_min, shape.degree_max), (1, 2));
        assert_eq!(shape.degree_mean, 6.0 / 4.0);
        assert_eq!((shape.components, shape.diameter), (1, Some(3)));
        assert!(Overlay::new(&live, &views).is_connected());
        assert!(connected(&live, &views));
        let live = ids(&[0, 1, 2, 3, 4]);
        let overlay = Overlay::new(&live, &views);
        assert!(!overlay.is_connected());
        assert!(!connected(&live, &views));
        let shape = overlay.shape().unwrap();
        assert_eq!(
            (shape.components, shape.diameter, shape.degree_min),
            (2, None, 0)
        );
    }
}
