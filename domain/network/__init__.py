"""The member network: the directory of member businesses and offers among members."""
