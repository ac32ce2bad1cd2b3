//! Kumo's `NetworkFabric` on one Linux host, and the instance metadata service.
//!
//! # Layout
//!
//! ```text
//!  host namespace (libvirtd runs here; the root namespace on a real host)
//!  ┌──────────────────────────────────────────────────────────────┐
//!  │ guest ── tap (libvirt) ──┐                                    │
//!  │                          kb<h>  bridge, pure L2, no address   │
//!  │                          kh<h>  veth ─────────────┐           │
//!  └───────────────────────────────────────────────────┼───────────┘
//!  VPC namespace kumo-vpc-<vpc-id>  (the VPC's implicit router)  │
//!  ┌───────────────────────────────────────────────────┼───────────┐
//!  │                          ke<h>  veth peer ◀───────┘           │
//!  │   <gateway>/<len> noprefixroute, proxy_arp, route <ip>/32     │
//!  │   nftables `inet kumo`: anti-spoofing by iifname, per-subnet  │
//!  │     stateless NACL chains, stateful security groups: a chain  │
//!  │     per group and direction, member sets (see [`nft`])        │
//!  │   dnsmasq (user dnsmasq): DHCP with static MAC→IP only, DNS   │
//!  │     for the VPC's private names on AmazonProvidedDNS          │
//!  │   lo: 169.254.169.254/32, <VPC base+2>/32 (AmazonProvidedDNS) │
//!  │   IMDS: one socket per ENI, SO_BINDTODEVICE ke<h>             │
//!  └───────────────────────────────────────────────────────────────┘
//! ```
//!
//! **Why routed, per ENI.** EC2 has no L2 between instances: the VPC router answers every ARP
//! (`proxy_arp` with the gateway address on every link and no connected route) and forwards by
//! /32 routes. One link per ENI means the *ingress interface* names the sender, which is what
//! anti-spoofing, security groups (one chain per group, jumped to by outgoing link) and the
//! metadata service (a listener per link) key on — never a source address, which VPCs may share.
//! Filtering is in the routed `inet` family, which has conntrack on this kernel (the bridge
//! family does not).
//!
//! **Why a bridge and a veth per ENI.** libvirt creates a guest's tap in the namespace libvirtd
//! runs in, and a tap created elsewhere cannot be handed to it; one libvirtd serves guests of
//! many VPCs. So the tap stays in the host namespace and joins, through a per-ENI bridge, a veth
//! whose other end is the ENI's link in the VPC namespace. The bridge carries exactly two ports
//! (tap and veth), so no guest ever shares L2 with another. All guest traffic stays inside
//! namespaces Kumo created; nothing is routed in the host namespace. (Where `br_netfilter` is
//! active in the host namespace — `bridge-nf-call-iptables=1`, as Docker sets — the host's
//! iptables FORWARD chain also sees the bridged frames and must not drop them; a dedicated
//! Kumo host namespace for libvirtd avoids the question.)
//!
//! **The public side** ([`fabric`]'s `public` module, [`routes`], [`nft`]): a VPC with an
//! internet gateway is joined by a veth (`uplink` ↔ `kp<h(vpc)>`) to one public namespace per
//! installation standing for the internet; public addresses are /32s on the uplink (DNAT/SNAT
//! in nftables) and routes in the public namespace; each subnet has a routing table chosen by
//! a packet mark after the main table.
//!
//! **Across hosts** ([`fabric`]'s `overlay` module): with an underlay address
//! ([`LinuxFabricConfig::underlay`]), each VPC router has a VXLAN link `overlay` (the VPC's
//! VNI, its socket in the host namespace) and routes the routing policy's `remote_enis` through
//! it to the router of the host holding them, each side filtering what it owns.
//!
//! Names: `kb`/`kh`/`ke` + 12 hex digits of a hash of the ENI id (Linux allows 15 bytes); every
//! link carries the alias `PREFIX:vpc-…:eni-…`, which [`LinuxFabric::list`] reads back.
//!
//! **Privileges.** The fabric needs root (CAP_NET_ADMIN for links, addresses and nftables,
//! CAP_SYS_ADMIN for `ip netns add` and `setns`, binding port 80) and the tools `ip`
//! (iproute2), `nft` (nftables) and `dnsmasq` (dnsmasq-base).
//!
//! Tools are driven as processes ([`cmd`]) with deadlines; per-namespace sockets and sysctls use
//! a thread that enters the namespace ([`netns`]).

pub mod cmd;
pub mod dhcp;
mod fabric;
pub mod imds;
pub mod names;
pub mod netns;
pub mod nft;
pub mod routes;
pub mod state;

pub use fabric::{LinuxFabric, LinuxFabricConfig, OVERLAY, overlay_mac};
pub use imds::Imds;
