# SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
"""The library's topology and choice policy through the Python module, on the sysfs fixture
trees the build generates (build/fixtures/<name>), checked against
tests/fixtures/expectations.json: endpoints of every device, the path class and NUMA distance
of every endpoint for every source, the device ranking, hints (NUMA, endpoint, default,
spread key, node hint for unknown memory) and the broken tree's notes.

The library keeps what it read of a tree (per root): switching roots with
ibverbs_ext.using_sysfs_root() is what these tests do, never editing a tree in place.
A fixture tree describes another machine: by default what depends on this host's rdma-core
is assumed there (the expectations' `remote` answers); IBV_EXT_LOCAL_VIEW=1 judges it by this
host's (`stock` on a host with rdma-core < 54)."""

import ctypes
import errno
import json
import os
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("DMP_BUILD", os.path.join(REPO, "build"))
sys.path.insert(0, os.path.join(REPO, "python"))
try:
    import ibverbs_ext as ix
except ImportError as e:
    pytest.skip(f"ibverbs_ext cannot be loaded (build the library first): {e}",
                allow_module_level=True)

with open(os.path.join(REPO, "tests", "fixtures", "expectations.json")) as _f:
    EXPECTED = json.load(_f)
TOPOLOGIES = sorted(EXPECTED["topologies"])


def _has_mlx5dv_reg_dmabuf_mr():
    try:
        return hasattr(ctypes.CDLL("libmlx5.so.1"), "mlx5dv_reg_dmabuf_mr")
    except OSError:
        return False


MLX5_DV_DMABUF = _has_mlx5dv_reg_dmabuf_mr()


@pytest.fixture(params=["remote", "local"])
def view(request, monkeypatch):
    """The view of a fixture tree: another machine's (default), or this host's. Returns the
    name of the expectations' answers for it."""
    if request.param == "local":
        monkeypatch.setenv("IBV_EXT_LOCAL_VIEW", "1")
        return "remote" if MLX5_DV_DMABUF else "stock"
    monkeypatch.delenv("IBV_EXT_LOCAL_VIEW", raising=False)
    return "remote"


@pytest.fixture(scope="session")
def trees():
    d = os.path.join(BUILD, "fixtures")
    if not os.path.isdir(os.path.join(d, "lab-vm")):
        pytest.skip(f"{d} missing (the build generates the sysfs fixture trees)")
    return d


@pytest.fixture
def root(trees, request):
    """Point the library at a tree for one test: root("dgx-h100")."""
    stack = []

    def use(name):
        cm = ix.using_sysfs_root(os.path.join(trees, name))
        cm.__enter__()
        stack.append(cm)
        return os.path.join(trees, name)

    yield use
    for cm in reversed(stack):
        cm.__exit__(None, None, None)


def _flags(names):
    f = ix.EndpointFlags(0)
    for n in names:
        f |= ix.EndpointFlags[n.upper()]
    return f


def _expected_available(dev, ep, view):
    """Re-derived: usable unless it needs the kernel's endpoint attribute on a tree without a
    kernel list, or it is data-direct and (this host's view) the installed libmlx5 lacks
    mlx5dv_reg_dmabuf_mr (rdma-core < 54); (another machine's view) that is assumed."""
    kernel_list = all("kernel_listed" in e["flags"] for e in dev["endpoints"])
    if kernel_list:
        return True
    if "needs_kernel_attr" in ep["flags"]:
        return False
    if ep["kind"] == "data_direct":
        return MLX5_DV_DMABUF or os.environ.get("IBV_EXT_LOCAL_VIEW") != "1"
    return True


@pytest.mark.parametrize("topo", TOPOLOGIES)
def test_endpoints_of_every_device(root, topo, view):
    root(topo)
    t = EXPECTED["topologies"][topo]
    for name, dev in t["rdma_devices"].items():
        got = ix.query_dma_endpoints(name)
        assert len(got) == len(dev["endpoints"]), name
        for g, e in zip(got, dev["endpoints"]):
            assert g.ibdev == name
            assert (g.index, ix.endpoint_kind_str(g.kind), g.pci or "", g.via or "") == \
                (e["index"], e["kind"], e["pci"], e["via"]), (name, g, e)
            assert g.numa_node == (e["numa_node"] if e["numa_node"] >= 0 else None), (name, g)
            assert (g.link_speed, g.link_width) == (e["link_speed"], e["link_width"]), (name, g)
            assert g.flags & ~(ix.EndpointFlags.UNAVAILABLE | ix.EndpointFlags.ASSUMED) == \
                _flags(e["flags"]), (name, g)
            assert g.available == _expected_available(dev, e, view), (name, g)
            # Another machine's view assumes what its rdma-core has, whatever this host has.
            assumed = os.environ.get("IBV_EXT_LOCAL_VIEW") != "1" and \
                e["kind"] == "data_direct" and "kernel_listed" not in e["flags"]
            assert bool(g.flags & ix.EndpointFlags.ASSUMED) == assumed, (name, g)
            assert g.assumed == ("rdma-core >= 54 on that machine" if assumed else None)
            assert g.default == (g.index == 0)


@pytest.mark.parametrize("topo", TOPOLOGIES)
def test_every_endpoint_path_class_and_distance(root, topo):
    """rank_dma_endpoints: each endpoint's path class is the expected one for every source,
    and for CPU memory the NUMA distance is the SLIT entry memory node -> endpoint node."""
    root(topo)
    t = EXPECTED["topologies"][topo]
    dist = t["numa"]["distance"]
    online = t["numa"]["online"]
    for spec in t["sources"].values():
        for name in t["rdma_devices"]:
            ranked = ix.rank_dma_endpoints(name, spec)
            assert sorted(c.endpoint.index for c in ranked) == \
                list(range(len(t["rdma_devices"][name]["endpoints"])))
            for c in ranked:
                key = c.endpoint.pci or f"virtual:{name}"
                assert ix.path_class_str(c.path_class) == t["paths"][spec][key], \
                    (topo, spec, name, c.reason)
                assert c.reason and "\n" not in c.reason
                ep_node = c.endpoint.numa_node
                if spec.startswith("system:node=") and ep_node is not None:
                    mem = int(spec.split("=")[1])
                    assert c.numa_distance == dist[online.index(mem)][online.index(ep_node)], \
                        (topo, spec, c.reason)


@pytest.mark.parametrize("topo", TOPOLOGIES)
def test_select_matches_expected_choices(root, topo, view):
    """The expectations' `remote` choices (another machine's tree, its rdma-core assumed) or
    `stock` ones (this host's view: only what this host can use)."""
    root(topo)
    t = EXPECTED["topologies"][topo]
    for name, by_spec in t[view]["choices"].items():
        for spec, want in by_spec.items():
            c = ix.rank_dma_endpoints(name, spec)[0]
            assert (c.endpoint.index, c.endpoint.pci or "", ix.path_class_str(c.path_class)) == \
                (want["endpoint"], want["pci"], want["class"]), (topo, name, spec, c.reason)
            assert c.endpoint.available
            assert c.reason.startswith(("chose endpoint", "tie spread by key: chose")), c.reason
            if c.unreachable:
                # select refuses what rank only flags: P2P memory no endpoint can reach.
                with pytest.raises(ix.IbvExtError) as ei:
                    ix.select_dma_endpoint(name, spec)
                assert ei.value.errno == errno.EXDEV, ei.value
                assert f"no endpoint of {name} can reach the memory" in ei.value.reason
            else:
                assert ix.select_dma_endpoint(name, spec) == c


@pytest.mark.parametrize("topo", TOPOLOGIES)
def test_rank_devices_best_first(root, topo, view):
    root(topo)
    t = EXPECTED["topologies"][topo]
    for spec, best in t[view]["best"].items():
        ranked = ix.rank_dmabuf_devices(spec)
        assert sorted(c.ibdev for c in ranked) == sorted(t["rdma_devices"]), (topo, spec)
        top = ranked[0]
        assert top.ibdev in best["preferred"], (topo, spec, top.reason)
        assert ix.path_class_str(top.path_class) == best["class"], (topo, spec, top.reason)
        reaching = {c.ibdev for c in ranked
                    if ix.path_class_str(c.path_class) == best["class"]
                    and c.endpoint.available and not c.unreachable}
        assert reaching == set(best["devices"]), (topo, spec, [c.reason for c in ranked])
        # Classes never get better down the list among usable, reachable entries.
        classes = [int(c.path_class) for c in ranked if c.endpoint.available and not c.unreachable]
        assert classes == sorted(classes), (topo, spec)


def test_rank_devices_subset_and_contexts(root):
    root("lab-vm")
    both = ix.rank_dmabuf_devices("system:node=0")
    assert [c.ibdev for c in both] == ["rxe0", "rxe1"]
    only1 = ix.rank_dmabuf_devices("system:node=0", names=["rxe1"])
    assert [c.ibdev for c in only1] == ["rxe1"]
    assert only1[0].path_class == ix.PathClass.SYS and only1[0].numa_distance == 20

    class FakeContext:  # anything with .name works as a device, as a pyverbs Context does
        name = "rxe0"
    assert ix.select_dma_endpoint(FakeContext(), "system:node=0").ibdev == "rxe0"


def test_more_devices_than_the_first_guess(root):
    """dgx-h100 has 9 RDMA devices: the module grows its array on ENOSPC."""
    root("dgx-h100")
    ranked = ix.rank_dmabuf_devices("p2p:0000:1b:00.0")
    assert len(ranked) == 9
    assert ranked[0].ibdev == "mlx5_0" and ranked[0].path_class == ix.PathClass.PIX


def test_source_forms_agree(root):
    """A spec, a DmabufInfo from describe, and a hand-made DmabufInfo choose the same."""
    root("dgx-h100")
    spec = "p2p:0000:9c:00.0"
    info = ix.describe_dmabuf_source(spec)
    assert info.source == ix.Source.P2P and info.origin == ix.Origin.DESCRIBED
    assert info.provider == "0000:9c:00.0" and info.numa_node == 1
    assert info.types == {ix.Source.P2P} and info.size == 0 and info.exporter == "described"
    hand = ix.DmabufInfo(source=ix.Source.P2P, origin=ix.Origin.DESCRIBED,
                         flags=ix.InfoFlags(0), types=frozenset({ix.Source.P2P}),
                         numa_node=1, size=0, inode=0, provider="0000:9c:00.0",
                         exporter="described")
    a = ix.select_dma_endpoint("mlx5_4", spec)
    b = ix.select_dma_endpoint("mlx5_4", info)
    c = ix.select_dma_endpoint("mlx5_4", hand)
    assert a == b == c
    assert a.path_class == ix.PathClass.PIX and a.numa_distance is not None
    assert "P2P memory of 0000:9c:00.0 (described)" in a.reason


def test_describe_short_p2p_address(root):
    root("dgx-h100")
    assert ix.describe_dmabuf_source("p2p:1b:00.0").provider == "0000:1b:00.0"


def test_unknown_source_falls_back_to_default(root):
    root("lab-vm")
    for src in (None, "unknown"):
        c = ix.select_dma_endpoint("rxe1", src)
        assert c.fallback and c.endpoint.index == 0, c.reason
    top = ix.rank_dmabuf_devices(None)[0]
    assert top.fallback


def test_node_hint_for_unknown_memory(root):
    root("lab-vm")
    ranked = ix.rank_dmabuf_devices("unknown", ix.PathHints(numa_node=1))
    assert ranked[0].ibdev == "rxe1" and ranked[0].hint_used, ranked[0].reason
    assert ranked[0].path_class == ix.PathClass.PHB
    # A source that knows its node is not overridden by the hint.
    ranked = ix.rank_dmabuf_devices("system:node=0", ix.PathHints(numa_node=1))
    assert ranked[0].ibdev == "rxe0" and not ranked[0].hint_used, ranked[0].reason


def test_numa_policy(root):
    root("dgx-h100")
    ranked = ix.rank_dmabuf_devices("p2p:0000:1b:00.0", ix.PathHints.numa(1))
    assert ranked[0].endpoint.numa_node == 1, ranked[0].reason
    assert ranked[0].path_class == ix.PathClass.PHB
    # A bare PathPolicy is accepted as hints too.
    c = ix.select_dma_endpoint("mlx5_0", "system:node=1", ix.PathPolicy.DEFAULT)
    assert c.endpoint.index == 0 and c.reason.startswith("default policy: chose"), c.reason


def test_endpoint_policy_on_socket_direct(root):
    """Peer PF endpoint 1 needs the kernel's endpoint attribute: unusable on this tree (no
    kernel list), so an explicit request fails with the library's reason."""
    root("socket-direct")
    eps = ix.query_dma_endpoints("mlx5_0")
    assert [e.kind for e in eps] == [ix.EndpointKind.PF, ix.EndpointKind.PEER_PF]
    assert eps[1].needs_kernel_attr and not eps[1].available and eps[1].via == "mlx5_1"
    with pytest.raises(ix.IbvExtError) as ei:
        ix.select_dma_endpoint("mlx5_0", "system:node=1", ix.PathHints.use_endpoint(1))
    assert ei.value.errno == 95  # EOPNOTSUPP
    assert "endpoint 1 of mlx5_0 cannot be used on this host" in ei.value.reason
    assert "the kernel has no endpoint attribute" in ei.value.reason
    c = ix.select_dma_endpoint("mlx5_0", "system:node=1", ix.PathHints.use_endpoint(0))
    assert c.endpoint.index == 0 and c.reason.startswith("explicit request: chose"), c.reason
    # Ranked anyway, flagged: the unusable peer PF comes last.
    ranked = ix.rank_dma_endpoints("mlx5_0", "system:node=1")
    assert [c.endpoint.index for c in ranked] == [0, 1]
    assert not ranked[1].endpoint.available


def test_kernel_listed_endpoints(root):
    root("lab-vm-patched")
    for name in ("rxe0", "rxe1"):
        eps = ix.query_dma_endpoints(name)
        assert all(e.kernel_listed and e.available for e in eps), eps


def test_data_direct_availability_follows_libmlx5(root, monkeypatch):
    """This host's view: this host's libmlx5 decides. Another machine's: assumed, said so,
    and the GPU's memory goes to the data-direct function, with this host's caveat."""
    root("data-direct")
    monkeypatch.setenv("IBV_EXT_LOCAL_VIEW", "1")
    eps = ix.query_dma_endpoints("mlx5_0")
    dd = [e for e in eps if e.kind == ix.EndpointKind.DATA_DIRECT]
    assert dd and dd[0].pci == "0008:04:00.0"
    assert dd[0].available == MLX5_DV_DMABUF
    assert dd[0].assumed is None
    monkeypatch.delenv("IBV_EXT_LOCAL_VIEW")
    dd = [e for e in ix.query_dma_endpoints("mlx5_0") if e.kind == ix.EndpointKind.DATA_DIRECT]
    assert dd[0].available and dd[0].flags & ix.EndpointFlags.ASSUMED
    assert dd[0].assumed == "rdma-core >= 54 on that machine"
    c = ix.select_dma_endpoint("mlx5_0", EXPECTED["topologies"]["data-direct"]["sources"]["GPU0"])
    assert c.endpoint.kind == ix.EndpointKind.DATA_DIRECT, c.reason
    assert "availability assumed (rdma-core >= 54 on that machine); this host's libmlx5 " \
        f"has {'mlx5dv_reg_dmabuf_mr too' if MLX5_DV_DMABUF else 'no mlx5dv_reg_dmabuf_mr'}" \
        in c.reason, c.reason


def test_spread_key_covers_every_preferred_device(root):
    """Equal devices are spread by the key: over keys 0..n-1 every preferred device leads."""
    root("dgx-h100")
    best = EXPECTED["topologies"]["dgx-h100"]["stock"]["best"]["system:node=1"]
    leaders = set()
    for key in range(len(best["preferred"])):
        top = ix.rank_dmabuf_devices("system:node=1", ix.PathHints(spread_key=key))[0]
        leaders.add(top.ibdev)
    assert leaders == set(best["preferred"])
    # The same key gives the same answer.
    k = ix.PathHints(spread_key=12345)
    assert ix.rank_dmabuf_devices("system:node=1", k)[0] == \
        ix.rank_dmabuf_devices("system:node=1", k)[0]


def test_virtual_endpoint(root):
    root("soft-rdma")
    (ep,) = ix.query_dma_endpoints("rxe0")
    assert ep.kind == ix.EndpointKind.VIRTUAL and ep.pci is None and ep.via == "v0"
    assert ep.numa_node is None
    c = ix.rank_dmabuf_devices("system:node=0")[0]
    assert c.ibdev == "siw0" and c.endpoint.kind == ix.EndpointKind.NETDEV


def test_broken_tree_notes(root):
    root("broken")
    notes = "\n".join(ix.sysfs_notes())
    for frag in ("class/infiniband/mlx5_7: points outside the tree",
                 "class/infiniband/mlx5_9: dangling link",
                 "class/infiniband/mlx5_5: not a device directory"):
        assert frag in notes, notes
    names = {c.ibdev for c in ix.rank_dmabuf_devices("system:node=0")}
    assert names == set(EXPECTED["topologies"]["broken"]["rdma_devices"])


def test_roots_are_cached_per_root(root, trees):
    """Switching between roots gives each tree's own answer (each parsed once)."""
    root("lab-vm")
    assert ix.sysfs_root() == os.path.join(trees, "lab-vm")
    a = ix.query_dma_endpoints("rxe0")
    with ix.using_sysfs_root(os.path.join(trees, "dgx-h100")):
        with pytest.raises(ix.IbvExtError):
            ix.query_dma_endpoints("rxe0")
        assert ix.query_dma_endpoints("mlx5_0")[0].pci == "0000:1a:00.0"
    assert ix.query_dma_endpoints("rxe0") == a


def test_set_sysfs_root_refuses_a_missing_directory():
    with pytest.raises(FileNotFoundError):
        ix.set_sysfs_root("/nonexistent/sysfs/tree")


def test_string_helpers():
    assert ix.source_str(ix.Source.P2P) == "p2p" and str(ix.Source.SYSTEM) == "system"
    assert ix.origin_str(ix.Origin.KERNEL) == "kernel"
    assert ix.endpoint_kind_str(ix.EndpointKind.DATA_DIRECT) == "data_direct"
    assert [ix.path_class_str(c) for c in ix.PathClass] == \
        EXPECTED["path_classes"]
    assert ix.path_class_str(99) == "UNKNOWN" and ix.endpoint_kind_str(99) == "unknown"
