graph [
  directed 0
  node [
    id 0
  ]
  node [
    id 1
  ]
  node [
    id 2
  ]
  node [
    id 3
  ]
  node [
    id 4
  ]
  edge [
    source 0
    target 0
    latency "20 ms"
    jitter "3 ms"
    packet_loss 0.01
  ]
  edge [
    source 1
    target 1
    latency "20 ms"
    jitter "3 ms"
    packet_loss 0.01
  ]
  edge [
    source 2
    target 2
    latency "20 ms"
    jitter "3 ms"
    packet_loss 0.01
  ]
  edge [
    source 3
    target 3
    latency "20 ms"
    jitter "3 ms"
    packet_loss 0.01
  ]
  edge [
    source 4
    target 4
    latency "20 ms"
    jitter "3 ms"
    packet_loss 0.01
  ]
  edge [
    source 0
    target 1
    latency "20 ms"
    jitter "3 ms"
    packet_loss 0.01
  ]
  edge [
    source 1
    target 2
    latency "20 ms"
    jitter "3 ms"
    packet_loss 0.01
  ]
  edge [
    source 2
    target 3
    latency "20 ms"
    jitter "3 ms"
    packet_loss 0.01
  ]
  edge [
    source 3
    target 4
    latency "20 ms"
    jitter "3 ms"
    packet_loss 0.01
  ]
  edge [
    source 4
    target 0
    latency "20 ms"
    jitter "3 ms"
    packet_loss 0.01
  ]
]
