# Three regions in Shadow's GML dialect: one vertex per region, a self-loop
# for traffic inside a region, and inter-region links with latency and loss.
# The same file serves `sim` and Shadow (network.graph.type: gml).
graph [
  directed 0
  node [
    id 0
    label "europe"
    host_bandwidth_up "100 Mbit"
    host_bandwidth_down "100 Mbit"
  ]
  node [
    id 1
    label "north-america"
    host_bandwidth_up "100 Mbit"
    host_bandwidth_down "100 Mbit"
  ]
  node [
    id 2
    label "asia"
    host_bandwidth_up "50 Mbit"
    host_bandwidth_down "50 Mbit"
  ]
  edge [ source 0 target 0 latency "5 ms" packet_loss 0.0 ]
  edge [ source 1 target 1 latency "5 ms" packet_loss 0.0 ]
  edge [ source 2 target 2 latency "5 ms" packet_loss 0.0 ]
  edge [ source 0 target 1 latency "45 ms" jitter "5 ms" packet_loss 0.001 ]
  edge [ source 1 target 2 latency "80 ms" jitter "10 ms" packet_loss 0.002 ]
  edge [ source 0 target 2 latency "120 ms" jitter "10 ms" packet_loss 0.005 ]
]
