"""Group buys: orders with flex, case filling, price tiers, allocation, shortages, settlement."""
