# The net.ipv4.tcp_* sysctls and net.core.somaxconn of a fresh namespace
# (Linux 6.x defaults), and writes the kernel's handlers accept or refuse.
# tcp_congestion_control's default is a kernel build choice (cubic here),
# so only a write and its read-back are compared.
ip netns add t
ip netns exec t sysctl net.ipv4.tcp_syncookies net.core.somaxconn
ip netns exec t sysctl net.ipv4.tcp_rmem net.ipv4.tcp_wmem
ip netns exec t sysctl net.ipv4.tcp_sack net.ipv4.tcp_timestamps net.ipv4.tcp_window_scaling net.ipv4.tcp_dsack
ip netns exec t sysctl net.ipv4.tcp_fin_timeout net.ipv4.tcp_keepalive_time net.ipv4.tcp_keepalive_intvl net.ipv4.tcp_keepalive_probes
ip netns exec t sysctl net.ipv4.tcp_syn_retries net.ipv4.tcp_synack_retries net.ipv4.tcp_retries2
ip netns exec t sysctl net.ipv4.tcp_max_syn_backlog net.ipv4.tcp_ecn net.ipv4.tcp_no_metrics_save
ip netns exec t sysctl net.ipv4.ip_local_port_range

# Vectors: a shorter write changes the leading values; each must be ≥ 1.
ip netns exec t sysctl -w net.ipv4.tcp_rmem="8192 65536"
ip netns exec t sysctl net.ipv4.tcp_rmem
ip netns exec t sysctl -w net.ipv4.tcp_wmem="0 0 0"
echo "status $?"
ip netns exec t sysctl -w net.ipv4.tcp_rmem="4096 131072 x"
echo "status $?"
ip netns exec t sysctl net.ipv4.tcp_rmem

# u8 handlers take 0…255 and keep the value written.
ip netns exec t sysctl -w net.ipv4.tcp_sack=5
ip netns exec t sysctl net.ipv4.tcp_sack
ip netns exec t sysctl -w net.ipv4.tcp_syncookies=256
echo "status $?"
ip netns exec t sysctl -w net.ipv4.tcp_syncookies=2
ip netns exec t sysctl -w net.ipv4.tcp_retries2=-1
echo "status $?"
ip netns exec t sysctl -w net.ipv4.tcp_syn_retries=0
echo "status $?"
ip netns exec t sysctl -w net.ipv4.tcp_syn_retries=127
ip netns exec t sysctl -w net.ipv4.tcp_syn_retries=128
echo "status $?"
ip netns exec t sysctl -w net.ipv4.tcp_ecn=3
echo "status $?"
ip netns exec t sysctl -w net.ipv4.tcp_ecn=1

# Times in seconds (proc_dointvec_jiffies) take any int.
ip netns exec t sysctl -w net.ipv4.tcp_fin_timeout=-1
ip netns exec t sysctl -w net.ipv4.tcp_keepalive_time=600
ip netns exec t sysctl net.ipv4.tcp_fin_timeout net.ipv4.tcp_keepalive_time

# somaxconn: 0 or more.
ip netns exec t sysctl -w net.core.somaxconn=-1
echo "status $?"
ip netns exec t sysctl -w net.core.somaxconn=16

# Congestion control: a built-in name, or ENOENT.
ip netns exec t sysctl -w net.ipv4.tcp_congestion_control=reno
ip netns exec t sysctl net.ipv4.tcp_congestion_control
ip netns exec t sysctl -w net.ipv4.tcp_congestion_control=nosuch
echo "status $?"
ip netns exec t sysctl -n net.ipv4.tcp_congestion_control
