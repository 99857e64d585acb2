//! How generated things are named. Numbers are zero-padded to a fixed
//! width so that name order (which `Topology` sorts switches by) is
//! numeric order.

pub(crate) fn width(count: usize, min: usize) -> usize {
    count.to_string().len().max(min)
}

#[derive(Debug, Clone)]
pub(crate) struct Names {
    leaf_width: usize,
    spine_width: usize,
    server_width: usize,
    operator_width: usize,
}

impl Names {
    pub(crate) fn new(
        leaves: usize,
        spines: usize,
        servers_per_leaf: usize,
        operators: usize,
    ) -> Self {
        Names {
            leaf_width: width(leaves, 2),
            spine_width: width(spines, 1),
            server_width: width(servers_per_leaf, 2),
            operator_width: width(operators, 2),
        }
    }

    /// `leaf0001` for leaf index 0 of a 1,000-leaf fabric.
    pub(crate) fn leaf(&self, leaf: usize) -> String {
        format!("leaf{:0w$}", leaf + 1, w = self.leaf_width)
    }

    pub(crate) fn rack(&self, leaf: usize) -> String {
        format!("rack{:0w$}", leaf + 1, w = self.leaf_width)
    }

    pub(crate) fn spine(&self, spine: usize) -> String {
        format!("spine{:0w$}", spine + 1, w = self.spine_width)
    }

    /// Port names follow the Linux switchdev habit: `swp1`, `swp2`, …
    pub(crate) fn port(number: usize) -> String {
        format!("swp{number}")
    }

    /// `leaf0001/swp3` for (leaf 0, position 2).
    pub(crate) fn leaf_port_ref(&self, leaf: usize, position: usize) -> String {
        format!("{}/{}", self.leaf(leaf), Self::port(position + 1))
    }

    pub(crate) fn server(&self, leaf: usize, server: usize) -> String {
        format!(
            "srv{:0lw$}-{:0sw$}",
            leaf + 1,
            server + 1,
            lw = self.leaf_width,
            sw = self.server_width
        )
    }

    pub(crate) fn operator(&self, operator: usize) -> String {
        format!("op{:0w$}", operator + 1, w = self.operator_width)
    }

    pub(crate) fn network(index: usize, width: usize) -> String {
        format!("net{:0width$}", index + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_names_sort_numerically() {
        let n = Names::new(1000, 2, 24, 16);
        assert_eq!(n.leaf(0), "leaf0001");
        assert_eq!(n.leaf(999), "leaf1000");
        assert!(n.leaf(8) < n.leaf(99));
        assert_eq!(n.spine(1), "spine2");
        assert_eq!(n.server(0, 0), "srv0001-01");
        assert_eq!(n.operator(15), "op16");
        assert_eq!(n.leaf_port_ref(4, 2), "leaf0005/swp3");
        assert_eq!(Names::network(9, 3), "net010");
    }
}
