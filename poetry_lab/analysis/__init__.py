"""What a poem is made of: copying and diversity numbers, pronunciation, rhyme and metre, the lens."""
