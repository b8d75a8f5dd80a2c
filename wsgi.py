from waengine import create_app

app = create_app()
