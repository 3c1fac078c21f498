package whep

// HeldSSRCs counts the SSRCs the sessions of h hold.
var HeldSSRCs = heldSSRCs
