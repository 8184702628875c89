"""StyleGAN2 architecture plugin (Karras et al. 2020), written from the papers."""
