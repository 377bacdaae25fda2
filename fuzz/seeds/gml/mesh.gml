graph [
  directed 0
  node [
    id 0
  ]
  edge [
    source 0
    target 0
    latency "20 ms"
    jitter "3 ms"
    packet_loss 0.01
  ]
]
